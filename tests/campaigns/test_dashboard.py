"""The campaign dashboard in admin: the figures operators read, each chart with its
table, for one campaign and for all."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.analytics import BOX_VIEWS, PRESSES, count_visitor
from social.spend import record_x_request
from social.spend.prices import PriceKind


@pytest.fixture
def shared_campaign(user_factory, campaign_factory, reward_factory):
    """A campaign with a budget and rewards in every state, made today."""
    campaign = campaign_factory(bux_reward=Decimal("2"), bux_budget=Decimal("1000"))
    amounts = {"rewarded": 100, "verified": 40, "failed": 20}
    for trait, bux in amounts.items():
        for _ in range(2):
            reward_factory(
                user_factory(), campaign, bux_rewarded=Decimal(bux), **{trait: True}
            )
    reward_factory(user_factory(), campaign, bux_rewarded=Decimal("60"))  # pending
    return campaign


def test_the_dashboard_shows_a_campaigns_figures_with_tables(
    admin_client, shared_campaign, page_text
):
    today = timezone.now().date()
    for visitor in ("u1", "u2", "u3", "u4", "u2"):
        count_visitor(BOX_VIEWS, shared_campaign.pk, visitor, day=today)
    for visitor in ("u1", "u2", "u3"):
        count_visitor(PRESSES, shared_campaign.pk, visitor, day=today)
    from social.spend import spending_for

    with spending_for(shared_campaign.pk):
        for _ in range(4):
            record_x_request(PriceKind.POST_WRITE, "share", status=200, body={})

    response = admin_client.get(
        f"/admin/campaigns/sharecampaign/{shared_campaign.pk}/dashboard/"
    )

    assert response.status_code == 200
    text = page_text(response)
    assert "Shares 7" in text
    assert "Minted shares 2" in text
    assert "BUX paid 200" in text
    assert "BUX minted to date / budget 200 / 1,000" in text
    assert "X spend $0.060000" in text
    assert "X cost per minted share $0.030000" in text
    html = response.content.decode()
    for chart in ("shares", "minted", "scores", "spend", "funnel"):
        assert f'id="chart-{chart}"' in html
    # The funnel's table: 4 readers saw it, 3 pressed, 4 confirmed (verified or
    # minted), 2 minted.
    assert [
        int(html.split(f'data-step="{n}">')[1].split("<")[0]) for n in range(1, 5)
    ] == [4, 3, 4, 2]
    # Scores: 100 BUX at base 2 is score 50 (band 41-50).
    assert "41-50 2" in text


@pytest.mark.parametrize("campaign_dashboard", [True, False])
def test_every_chart_is_an_image_with_a_title_and_a_table_beside_it(
    campaign_dashboard, admin_client, shared_campaign
):
    url = "/admin/campaigns/sharecampaign/dashboard/"
    if campaign_dashboard:
        url = f"/admin/campaigns/sharecampaign/{shared_campaign.pk}/dashboard/"
    html = admin_client.get(url).content.decode()

    figures = re.findall(
        r'<figure class="dashboard-chart" id="chart-(\w+)".*?</figure>', html, re.S
    )
    assert figures == ["shares", "minted", "scores", "spend", "funnel"]
    for chart in re.findall(r'<figure class="dashboard-chart".*?</figure>', html, re.S):
        svg = re.search(
            r'<svg class="chart"[^>]*role="img" aria-labelledby="([\w-]+)"', chart
        )
        assert svg, chart[:200]
        assert re.search(rf'<title id="{svg.group(1)}">\S', chart)
        assert re.search(r"<details><summary>.*?<table>.*?<tbody>.*?<td", chart, re.S)


def test_the_all_campaigns_dashboard_adds_every_campaign_up(
    admin_client,
    shared_campaign,
    campaign_factory,
    reward_factory,
    user_factory,
    page_text,
):
    other = campaign_factory()
    reward_factory(user_factory(), other, rewarded=True, bux_rewarded=Decimal("7"))

    text = page_text(admin_client.get("/admin/campaigns/sharecampaign/dashboard/"))

    assert "Shares 8" in text
    assert "BUX paid 207" in text


def test_a_period_before_the_rewards_shows_none_of_them(
    admin_client, shared_campaign, page_text
):
    last_week = timezone.now().date() - timedelta(days=7)
    response = admin_client.get(
        f"/admin/campaigns/sharecampaign/{shared_campaign.pk}/dashboard/",
        {"since": last_week - timedelta(days=3), "until": last_week},
    )
    text = page_text(response)
    assert "Shares 0" in text
    assert "No shares in this period." in text


def test_only_staff_see_the_dashboard(client, reader, shared_campaign):
    client.force_login(reader)
    response = client.get(
        f"/admin/campaigns/sharecampaign/{shared_campaign.pk}/dashboard/"
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_funnel_counts_each_reader_once_a_day_from_the_box_and_the_button(
    client, admin_client, reader, other_user, campaign_factory
):
    campaign = campaign_factory()
    post_url = campaign.post.get_absolute_url()
    client.get(post_url)  # someone not signed in
    for viewer in (reader, reader, other_user):
        client.force_login(viewer)
        client.get(post_url)
    # A press counts even when the share goes no further (no X account here).
    client.post(f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true")
    client.post(f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true")

    html = admin_client.get(
        f"/admin/campaigns/sharecampaign/{campaign.pk}/dashboard/"
    ).content.decode()

    funnel = [
        int(html.split(f'data-step="{n}">')[1].split("<")[0]) for n in range(1, 5)
    ]
    assert funnel == [3, 1, 0, 0]
