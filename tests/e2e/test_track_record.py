"""The public track record checked in a real browser, with no account: verified as published, not verified once a
past signal is changed in the database."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STRATEGY = "Trend Rider"


def test_a_visitor_checks_the_chain_in_the_browser_and_sees_a_changed_signal(stack, browser):
    stack.manage("run_strategy", STRATEGY)  # as staff would run it by command: one signal per market
    found = stack.shell("from strategies.models import Signal, Strategy\n"
                        f"s = Strategy.objects.get(name={STRATEGY!r})\n"
                        "print(s.pk, Signal.objects.filter(strategy=s).count(), "
                        "Signal.objects.filter(strategy=s).order_by('pk').first().pk)")
    pk, count, first = found.split()
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone, signed in nowhere
    page = context.new_page()
    page.goto(f"{stack.url}/strategies/{pk}/track-record/")
    expect(page.get_by_role("heading", name=f"{STRATEGY}: track record")).to_be_visible()
    page.get_by_role("button", name="Check the whole chain").click()
    expect(page.locator("#verify-result")).to_have_text(
        f"Verified: {count} signals checked, the chain ends at the published head", timeout=30_000)

    stack.shell("from strategies.models import Signal\n"
                f"Signal.objects.filter(pk={first}).update(reason='edited afterwards')")
    page.reload()
    page.get_by_role("button", name="Check the whole chain").click()
    expect(page.locator("#verify-result")).to_have_text(
        f"Not verified: signal 1 (id {first}): the signature does not match its fields (altered)", timeout=30_000)
    context.close()
