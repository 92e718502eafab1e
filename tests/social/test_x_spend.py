"""What X costs us, recorded: every request the product makes is priced and added to
its (hour, campaign, purpose) row; a 402 or the daily limit pauses sharing."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from social.models import SharingPause, XConnection, XPrice, XSpend, XSpendDay
from social.score import calculate_and_save_score
from social.spend import (
    SHARING_PAUSED_MESSAGE,
    forget_prices,
    record_x_request,
    spending_for,
)
from social.spend.prices import PriceKind

pytestmark = pytest.mark.usefixtures("fast_retries", "paid_on_x_answer")


@pytest.fixture
def paid_on_x_answer(settings):
    """Shares verified on X's answer, without the confirmation read: these tests
    count the share's own requests."""
    settings.X_VERIFY_SHARES = "off"


def micros(usd: str) -> int:
    return int(Decimal(usd) * 1_000_000)


def recorded_micros(**filters) -> int:
    return XSpend.objects.filter(**filters).aggregate(c=Sum("cost_micros"))["c"] or 0


def connect_through_the_site(client, user, sandbox, account="creator") -> XConnection:
    client.force_login(user)
    start = client.get("/auth/x/authorize", {"redirect_to": "/"})
    location = urlsplit(sandbox.authorize(start["Location"], account=account))
    client.get(f"{location.path}?{location.query}")
    return XConnection.objects.get(user=user)


def test_spend_recorded_equals_what_x_billed_after_a_journey(
    client, reader, sandbox_campaign_factory, sandbox
):
    campaign = sandbox_campaign_factory()
    billed_before = micros(sandbox.requests()["total_cost_usd"])

    x = connect_through_the_site(client, reader, sandbox)  # token, users/me
    calculate_and_save_score(x)  # users/:id, users/:id/tweets
    share = client.post(f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true")
    assert "You earned" in share.content.decode()

    billed = micros(sandbox.requests()["total_cost_usd"]) - billed_before
    assert recorded_micros() == billed > 0
    # A retweet and a like at $0.015 each, for this campaign.
    assert recorded_micros(campaign_id=campaign.pk, purpose="share") == 15_000
    assert recorded_micros(campaign_id=campaign.pk, purpose="like") == 15_000
    assert recorded_micros(campaign_id=None, purpose="connect") == 10_000
    # One user, and $0.005 per post the timeline returned.
    assert (recorded_micros(purpose="score") - 10_000) % 5_000 == 0
    assert recorded_micros(purpose="score") > 10_000
    assert XSpend.objects.get(purpose="token").cost_micros == 0
    requests = XSpend.objects.aggregate(n=Sum("requests"))["n"]
    routes = sandbox.requests()["by_route"]
    assert requests == sum(
        total["requests"] for route, total in routes.items() if "/2/" in route
    )


def test_an_edited_price_is_what_the_next_request_costs(
    client, reader, sandbox_campaign_factory, connect_x
):
    XPrice.objects.filter(kind=PriceKind.POST_WRITE).update(usd=Decimal("0.02"))
    forget_prices()
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    client.force_login(reader)

    client.post(f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true")

    assert recorded_micros(campaign_id=campaign.pk) == 40_000
    forget_prices()


def test_the_price_table_starts_at_xs_pay_per_use_prices_and_is_edited_in_admin(
    admin_client, reader, sandbox_campaign_factory, connect_x
):
    # X's pay-per-use prices (X-API-NOTES.md): $0.015 a retweet or like, $0.010 per
    # user and $0.005 per post read; OAuth calls free.
    assert {price.kind: price.usd for price in XPrice.objects.all()} == {
        PriceKind.POST_WRITE: Decimal("0.015"),
        PriceKind.USER_READ: Decimal("0.010"),
        PriceKind.POST_READ: Decimal("0.005"),
        PriceKind.OAUTH: Decimal("0"),
    }
    post_write = XPrice.objects.get(kind=PriceKind.POST_WRITE)
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    try:
        edited = admin_client.post(
            f"/admin/social/xprice/{post_write.pk}/change/", {"usd": "0.0200"}
        )
        assert edited.status_code == 302
        admin_client.force_login(reader)
        admin_client.post(f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true")
    finally:
        forget_prices()  # the next test reads the table again

    # The retweet and the like at the edited price.
    assert recorded_micros(campaign_id=campaign.pk) == 40_000


@pytest.mark.django_db(transaction=True)
def test_recording_a_request_is_one_statement():
    record_x_request(PriceKind.POST_WRITE, "share", status=200, body={})
    with CaptureQueriesContext(connection) as queries:
        record_x_request(PriceKind.POST_WRITE, "share", status=200, body={})
    assert len(queries) == 1
    (row,) = XSpend.objects.all()
    assert (row.requests, row.cost_micros) == (2, 30_000)


@pytest.mark.django_db(transaction=True)
def test_a_blocks_requests_are_written_together_when_it_ends():
    with CaptureQueriesContext(connection) as queries, spending_for(7):
        record_x_request(PriceKind.POST_WRITE, "share", status=200, body={})
        record_x_request(PriceKind.POST_WRITE, "like", status=200, body={})
        record_x_request(PriceKind.POST_WRITE, "like", status=429, body=None)
        assert not XSpend.objects.exists()

    assert len(queries) == 2  # the look above, and the one write
    rows = XSpend.objects.filter(campaign_id=7).values_list(
        "purpose", "requests", "cost_micros"
    )
    assert sorted(rows) == [("like", 2, 15_000), ("share", 1, 15_000)]
    assert XSpendDay.objects.get().cost_micros == 30_000


def test_a_block_that_fails_still_writes_what_x_answered(db):
    with pytest.raises(RuntimeError), spending_for(8):
        record_x_request(PriceKind.POST_WRITE, "share", status=200, body={})
        raise RuntimeError("the request broke after X answered")

    assert recorded_micros(campaign_id=8) == 15_000


def test_an_unsuccessful_answer_is_counted_but_costs_nothing(db):
    record_x_request(PriceKind.POST_WRITE, "share", status=429, body=None)
    record_x_request(PriceKind.USER_READ, "score", status=200, body={"errors": []})
    assert recorded_micros() == 0
    assert XSpend.objects.aggregate(n=Sum("requests"))["n"] == 2


@pytest.mark.django_db(transaction=True)
def test_credits_running_out_pause_sharing_until_an_operator_resumes_it(
    settings,
    user_factory,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    admin_client,
    celery_worker,
    mailoutbox,
    wait_for,
    page_text,
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    campaign = sandbox_campaign_factory()
    first, second = user_factory(), user_factory()
    for reader in (first, second):
        connect_x(reader)
    sandbox.configure(credits_micros=0)  # X's pay-per-use credit is gone
    reader_client = admin_client.__class__()
    reader_client.force_login(first)
    share_url = f"/campaigns/{campaign.pk}/share"

    refused = reader_client.post(share_url, HTTP_HX_REQUEST="true")

    assert SHARING_PAUSED_MESSAGE in page_text(refused)
    assert SharingPause.objects.get().active
    assert sandbox.retweets() == []
    assert wait_for(lambda: len(mailoutbox) == 1)
    assert mailoutbox[0].to == ["ops@example.com"]
    assert "Sharing paused: X credits depleted (402)" in mailoutbox[0].subject
    # Everyone else sees the pause, and no request goes to X while it lasts.
    requests_before = sandbox.requests()["total_requests"]
    reader_client.force_login(second)
    page = page_text(reader_client.get(campaign.post.get_absolute_url()))
    assert SHARING_PAUSED_MESSAGE in page
    assert "Retweet & Like ·" not in page
    assert SHARING_PAUSED_MESSAGE in page_text(
        reader_client.post(share_url, HTTP_HX_REQUEST="true")
    )
    assert sandbox.requests()["total_requests"] == requests_before
    # Operators see it on every admin page, and resume once credits are topped up.
    assert "Sharing is paused across the site" in page_text(admin_client.get("/admin/"))
    sandbox.configure(credits_micros=None)
    admin_client.post(
        "/admin/social/sharingpause/",
        {"action": "resume", "_selected_action": [SharingPause.objects.get().pk]},
    )
    assert not SharingPause.objects.get().active

    shared = reader_client.post(share_url, HTTP_HX_REQUEST="true")
    assert "You earned" in page_text(shared)
    assert "Sharing is paused" not in page_text(admin_client.get("/admin/"))


@pytest.mark.parametrize(
    ("route", "told"),
    [
        # The retweet itself: nothing reached X, the reader is told of the pause.
        ("POST /2/users/:id/retweets", SHARING_PAUSED_MESSAGE),
        # The like after a retweet X took: the retweet still pays.
        ("POST /2/users/:id/likes", "You earned"),
    ],
)
def test_a_402_fault_from_x_pauses_sharing_for_everyone(
    route,
    told,
    client,
    user_factory,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    admin_client,
    page_text,
):
    campaign = sandbox_campaign_factory()
    first, second = user_factory(), user_factory()
    for reader in (first, second):
        connect_x(reader)
    sandbox.fault(route, status=402)  # X's CreditsDepleted, once
    share_url = f"/campaigns/{campaign.pk}/share"

    client.force_login(first)
    assert told in page_text(client.post(share_url, HTTP_HX_REQUEST="true"))

    pause = SharingPause.objects.get(active=True)
    assert pause.reason == SharingPause.Reason.CREDITS_DEPLETED
    client.force_login(second)
    box = page_text(client.get(campaign.post.get_absolute_url()))
    assert SHARING_PAUSED_MESSAGE in box
    assert "Retweet & Like ·" not in box
    requests_before = sandbox.requests()["total_requests"]
    assert SHARING_PAUSED_MESSAGE in page_text(
        client.post(share_url, HTTP_HX_REQUEST="true")
    )
    assert sandbox.requests()["total_requests"] == requests_before
    assert "Sharing is paused across the site" in page_text(admin_client.get("/admin/"))


def test_the_daily_spend_limit_pauses_sharing_once_a_day(
    settings,
    client,
    user_factory,
    sandbox_campaign_factory,
    connect_x,
    staff,
    page_text,
):
    # One share (a retweet and a like, $0.03) passes a $0.02 limit.
    settings.X_DAILY_SPEND_LIMIT_USD = Decimal("0.02")
    campaign = sandbox_campaign_factory()
    first, second = user_factory(), user_factory()
    for reader in (first, second):
        connect_x(reader)
    share_url = f"/campaigns/{campaign.pk}/share"

    client.force_login(first)
    assert "You earned" in page_text(client.post(share_url, HTTP_HX_REQUEST="true"))
    pause = SharingPause.objects.get(active=True)
    assert pause.reason == "daily_limit"
    assert "$0.030000 spent on X today" in pause.detail
    client.force_login(second)
    assert SHARING_PAUSED_MESSAGE in page_text(
        client.post(share_url, HTTP_HX_REQUEST="true")
    )

    from social.spend import resume_sharing

    resume_sharing(pause, by=staff)
    assert "You earned" in page_text(client.post(share_url, HTTP_HX_REQUEST="true"))
    assert not SharingPause.objects.filter(active=True).exists()
