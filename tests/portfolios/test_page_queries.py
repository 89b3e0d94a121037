"""Every list is paginated and a page costs the same number of queries whatever the history length."""

from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.portfolios.conftest import bot_history, make_bot

pytestmark = pytest.mark.django_db

# Session, user, the second-factor check, then the page's own queries (today's PnL reads the last snapshot of
# each bot before midnight UTC in one of them; the bot page's execution quality is one more, and its strategy's
# next run one more).
BOT_PAGE_QUERIES = 18
DASHBOARD_QUERIES = 13


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), unescape(response.content.decode())


@pytest.fixture
def small_and_large(alice, alice_offline_key, strategy):
    small = make_bot(alice, alice_offline_key, strategy, name="Small history")
    large = make_bot(alice, alice_offline_key, strategy, name="Long history")
    bot_history(small, 3)
    bot_history(large, 160)
    return small, large


def test_the_bot_page_costs_the_same_queries_for_3_or_160_rows_of_each_list(
    client, alice, small_and_large, django_assert_max_num_queries
):
    small, large = small_and_large
    client.force_login(alice)
    counts = []
    for bot in (small, large):
        with django_assert_max_num_queries(BOT_PAGE_QUERIES):
            count, page = _queries(client, reverse("portfolios:bot_detail", args=[bot.pk]))
        counts.append(count)
    assert counts[0] == counts[1]
    # The long history is cut in pages of 25, each list with its own pager.
    assert page.count("Page 1 of 7") == 4
    assert "reason 159" in page and "reason 100" not in page


def test_a_later_page_of_one_list_keeps_the_others_and_costs_the_same(
    client, alice, small_and_large, django_assert_max_num_queries
):
    _small, large = small_and_large
    client.force_login(alice)
    url = reverse("portfolios:bot_detail", args=[large.pk])
    with django_assert_max_num_queries(BOT_PAGE_QUERIES):
        _count, page = _queries(client, f"{url}?signals=7&history=2&period=all")
    assert "reason 0" in page and "reason 159" not in page
    assert "Page 7 of 7" in page and "Page 2 of 7" in page
    assert "?signals=6&history=2&period=all#signals" in page  # "Newer" keeps the other lists where they were


def test_dashboard_and_bot_list_cost_the_same_queries_with_more_bots_and_history(
    client, alice, alice_offline_key, strategy, django_assert_max_num_queries
):
    client.force_login(alice)
    bot_history(make_bot(alice, alice_offline_key, strategy, name="First"), 5)
    with django_assert_max_num_queries(DASHBOARD_QUERIES):
        few_dashboard, _page = _queries(client, reverse("dashboard"))
    few_list, _page = _queries(client, reverse("portfolios:bot_list"))
    for i in range(6):
        bot_history(make_bot(alice, alice_offline_key, strategy, name=f"More {i}"), 40)
    with django_assert_max_num_queries(DASHBOARD_QUERIES):
        many_dashboard, page = _queries(client, reverse("dashboard"))
    many_list, _page = _queries(client, reverse("portfolios:bot_list"))
    assert (few_dashboard, few_list) == (many_dashboard, many_list)
    assert "More 5" in page and "Recent orders" in page


def test_the_report_streams_in_a_constant_number_of_queries(client, alice, small_and_large):
    small, large = small_and_large
    client.force_login(alice)
    counts = []
    for bot in (small, large):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("portfolios:bot_report", args=[bot.pk]),
                                  {"kind": "fills", "start": "2009-01-01",
                                   "end": str(timezone.localdate() + timedelta(days=1))})
            body = b"".join(response.streaming_content).decode()
        counts.append(len(captured))
    assert counts[0] == counts[1]
    assert body.count("\n") == 161  # the header and one line per fill
