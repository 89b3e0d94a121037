"""A newcomer's first session in a real browser (Chromium through Playwright), against the processes of
`make run`: from sign-up to the first order, then pausing, a report, "Stop everything" and logging out.
Bob, in another browser, cannot open any of alice's pages.
"""

import csv
import io
import re
import time
from base64 import b32decode
from datetime import UTC, datetime

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ALICE, BOB = "alice@example.com", "bob@example.com"
PASSWORD = "correct-horse-battery-9"
STRATEGY = "Momentum 1m"


def code_from(secret, offset=0):
    """What an authenticator app shows for the base32 ``secret``, ``offset`` steps of 30 s from now."""
    totp = TOTP(b32decode(secret + "=" * (-len(secret) % 8)), step=30, t0=0, digits=6)
    totp.time = time.time() + offset * 30
    return f"{totp.token():06d}"


def shoot(page, folder, name, full_page=False):
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def reload_until(page, locator, timeout_s=90):
    """Reload the page until ``locator`` is visible (the worker acts in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if locator.count() and locator.first.is_visible():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{locator} never appeared on {page.url}")
        time.sleep(1)
        page.reload()


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.set_default_timeout(30_000)
    return context, context.new_page()


def log_in(page, stack, email):
    page.goto(f"{stack.url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").click()


def test_newcomer_journey(stack, browser, screenshots):
    url = stack.url
    # The markets rise now, so the 1-minute momentum strategy buys on the next closed candle.
    moved_at = stack.paper.server_time()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        stack.paper.move_price(symbol, factor=1.2)

    context, page = new_page(browser)

    # Sign up, then the link in the email.
    page.goto(f"{url}/accounts/signup/")
    page.fill("input[name=email]", ALICE)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/accounts/confirm-email/$"))
    email = stack.mailbox.wait_for(ALICE, "confirm your email")
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", email.get_body(("plain",)).get_content()).group(0)
    assert link.startswith(url)
    page.goto(link)
    page.locator("main form button[type=submit]").click()

    # Log in.
    log_in(page, stack, ALICE)
    expect(page.locator("h1")).to_have_text("Dashboard")

    # Two-factor authentication, from the secret shown beside the QR code; the backup codes are stored.
    page.locator("a", has_text="Turn on two-factor authentication").first.click()
    secret = page.locator("#totp-secret").inner_text().strip()
    expect(page.locator(".qr svg")).to_be_visible()
    page.fill("input[name=code]", code_from(secret, offset=-1))
    page.get_by_role("button", name="Confirm and turn on").click()
    expect(page.locator("h1")).to_have_text("Your backup codes")
    backup_codes = page.locator("#backup-codes li").all_inner_texts()
    assert len(backup_codes) == 10 and len(set(backup_codes)) == 10
    page.locator("a", has_text="I have stored them").click()
    expect(page.locator("h1")).to_have_text("Dashboard")

    # A paper exchange account and a trade-only key, made with the paper exchange's own command line.
    account = stack.paper_cli("account", "create", "--balance", "USDT=10000", "--balance", "USDC=10000", "--json")
    made = stack.paper_cli("key", "create", "--account", str(account["account"]), "--ip", "127.0.0.1", "--json")
    api_key, api_secret = made["api_key"], made["secret"]

    # Link it with a fresh code: the page shows it masked, never the secret.
    page.goto(f"{url}/keys/link/")
    # Linking a key asks for the password again first, then comes back to the form.
    expect(page.locator("h1")).to_have_text("Confirm your password")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{url}/keys/link/")
    page.select_option("select[name=exchange]", "paper")
    page.fill("input[name=label]", "Paper main")
    page.fill("input[name=api_key]", api_key)
    page.fill("input[name=api_secret]", api_secret)
    page.fill("input[name=otp_code]", code_from(secret))
    page.get_by_role("button", name="Check and link the key").click()
    expect(page.locator("h1")).to_have_text("Paper main")
    key_url = page.url
    hint = page.locator("#api-key-hint").inner_text()
    assert "…" in hint and hint != api_key and hint[:4] == api_key[:4]
    html = page.content()
    assert api_key not in html and api_secret not in html
    expect(page.locator("body")).to_contain_text("Key “Paper main” linked")
    shoot(page, screenshots, "key")

    # A bot: the strategy, two markets, 500 USDT and a cap per market.
    page.goto(f"{url}/bots/new/")
    page.fill("input[name=name]", "First bot")
    page.select_option("select[name=strategy]", label=STRATEGY)
    page.select_option("select[name=quote_asset]", "USDT")
    page.check("input[name=markets][value='BTC/USDT']")
    page.check("input[name=markets][value='ETH/USDT']")
    page.fill("input[name=allocation]", "500")
    page.fill("input[name=position_cap]", "200")
    page.get_by_role("button", name="Start the bot").click()
    expect(page.locator("body")).to_contain_text("Bot “First bot” is running")
    bot_url = page.url
    assert re.search(r"/bots/\d+/$", bot_url)

    # A backtest of the other strategy, run by the worker.
    page.goto(f"{url}/strategies/")
    page.get_by_role("link", name="Trend Rider").first.click()
    page.locator("summary", has_text="Run a backtest").click()
    page.select_option("#id_market", "BTC/USDT")
    today = datetime.now(UTC).date()
    page.fill("#id_start", f"{today.year - 1}-{today.month:02d}-01")
    page.fill("#id_end", today.isoformat())
    page.get_by_role("button", name="Start the backtest").click()
    expect(page.locator("body")).to_contain_text("Backtest queued")
    reload_until(page, page.get_by_text("Total profit %"))
    shoot(page, screenshots, "backtest")

    # The strategy runs (as staff would run it by command) once a candle has closed after the rise.
    while stack.paper.server_time() // 60_000 <= moved_at // 60_000:
        time.sleep(0.5)
    run = stack.manage("run_strategy", STRATEGY)
    assert re.search(r"BTC/USDT\s+buy", run.stdout), run.stdout

    # The worker places the orders; they fill; the bot page shows them, the fills and the equity chart.
    page.goto(bot_url)
    orders = page.locator("#orders tbody tr")
    reload_until(page, page.locator("#fills tbody tr"))
    reload_until(page, page.locator("#orders tbody tr", has_text="Filled").nth(1))
    expect(orders.filter(has_text="BTC/USDT")).to_have_count(1)
    expect(orders.filter(has_text="ETH/USDT")).to_have_count(1)
    reload_until(page, page.locator("#fills tbody tr").nth(1))
    reload_until(page, page.locator("#equity-chart svg, #equity-chart canvas"))
    shoot(page, screenshots, "bot", full_page=True)
    page.goto(url + "/")
    expect(page.locator("body")).to_contain_text("First bot")
    expect(page.locator("body")).to_contain_text("BTC/USDT")
    shoot(page, screenshots, "dashboard")

    # Pause it.
    page.goto(bot_url)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("body")).to_contain_text("Bot “First bot” is paused")

    # Download the orders report of the bot and read it.
    page.locator("a", has_text="Download a report").click()
    page.select_option("select[name=kind]", "orders")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert sorted(row["market"] for row in rows) == ["BTC/USDT", "ETH/USDT"]
    assert {row["side"] for row in rows} == {"buy"} and {row["state"] for row in rows} == {"filled"}
    assert all(row["bot"] == "First bot" and float(row["cost"]) > 0 for row in rows)
    assert all(float(row["cost"]) <= 200 * 1.01 for row in rows)  # the cap per market

    # Stop everything, keys included.
    page.goto(url + "/")
    page.get_by_role("button", name="Stop everything…").click()
    page.check("input[name=disable_keys]")
    page.get_by_role("button", name="Stop everything").click()
    expect(page.locator("body")).to_contain_text("Stopped everything")
    expect(page.locator("body")).to_contain_text("1 key(s) disabled")
    page.goto(key_url)
    expect(page.locator("body")).to_contain_text("Disabled")

    # An alert of alice's, for bob to try; beside her info alerts, a warning and a critical one.
    stack.shell(
        "from django.contrib.auth import get_user_model; from alerts.services import alert_raise; "
        f"u = get_user_model().objects.get(email='{ALICE}'); "
        "alert_raise(user=u, kind='drawdown', severity='warning', title='Drawdown beyond your threshold'); "
        "alert_raise(user=u, kind='key_withdraw', severity='critical', title='Key can withdraw')"
    )
    page.goto(f"{url}/alerts/")
    # Each severity has a colour of its own, and the tab shows the site's icon.
    colours = dict(page.locator("mark.severity").evaluate_all(
        "marks => marks.map(m => [m.className, getComputedStyle(m).backgroundColor])"))
    assert len(colours) == 3 and len(set(colours.values())) == 3, colours
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(url + icon).ok
    alert_href = page.locator("a[href^='/alerts/']").evaluate_all(
        "links => links.map(a => a.getAttribute('href')).filter(h => /^\\/alerts\\/\\d+\\/$/.test(h))")
    assert alert_href, "alice has no alert"
    alert_url = url + alert_href[0]

    # Log out.
    page.locator("summary", has_text=ALICE).click()
    page.locator("a", has_text="Log out").first.click()
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.goto(bot_url)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    context.close()

    # Bob, in his own browser, gets 404 for each of alice's pages.
    stack.shell(
        "from django.contrib.auth import get_user_model; from allauth.account.models import EmailAddress; "
        f"u = get_user_model().objects.create_user(username='bob', email='{BOB}', password='{PASSWORD}'); "
        f"EmailAddress.objects.create(user=u, email='{BOB}', verified=True, primary=True)"
    )
    bob_context, bob_page = new_page(browser)
    log_in(bob_page, stack, BOB)
    expect(bob_page.locator("h1")).to_have_text("Dashboard")
    for target in (bot_url, key_url, alert_url):
        response = bob_page.goto(target)
        assert response.status == 404, target
    bob_context.close()

    # Nothing the processes logged at DEBUG, and no email, holds the key, its secret or the TOTP seed.
    seed = b32decode(secret + "=" * (-len(secret) % 8))
    emails = "".join(m.as_string() for m in stack.mailbox.messages)
    logs = stack.log_text()
    assert "POST /keys/link/" in logs
    for value in (api_key, api_secret, secret, seed.hex()):
        assert value not in logs
        assert value not in emails
