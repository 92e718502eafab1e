"""A campaign's rewards as CSV, from the admin and from the command line: what the
rows say, and memory that stays flat however many rows there are."""

from __future__ import annotations

import csv
import io
import tracemalloc
from decimal import Decimal

from django.core.management import call_command

from campaigns.dashboard.export import HEADER, csv_lines


def test_the_admin_action_exports_a_campaigns_rewards(
    admin_client,
    reader,
    other_user,
    campaign_factory,
    connection_factory,
    reward_factory,
):
    campaign = campaign_factory(tweets=2)
    first, second = campaign.tweets.all()
    connection = connection_factory(reader, username="dana_reads", score=25)
    minted = reward_factory(
        reader,
        campaign,
        x_connection=connection,
        rewarded=True,
        bux_rewarded=Decimal("50"),
    )
    reward_factory(other_user, campaign, campaign_tweet=second, failed=True)
    reward_factory(other_user, campaign_factory())  # another campaign's

    response = admin_client.post(
        "/admin/campaigns/sharecampaign/",
        {"action": "export_rewards", "_selected_action": [campaign.pk]},
    )

    assert response["Content-Type"] == "text/csv"
    assert f"campaign-{campaign.pk}-rewards.csv" in response["Content-Disposition"]
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    )
    assert [row["state"] for row in rows] == ["rewarded", "failed"]
    assert [row["tweet_id"] for row in rows] == [first.tweet_id, second.tweet_id]
    row = rows[0]
    assert row["reward_id"] == str(minted.pk)
    assert row["reader_email"] == reader.email
    assert (row["x_handle"], row["x_score"]) == ("dana_reads", "25")
    assert row["bux"] == "50.00"
    assert row["transaction"] == minted.tx_hash
    assert row["rewarded_at"].startswith(str(minted.rewarded_at.date()))
    assert rows[1]["transaction"] == "" and rows[1]["x_handle"] == ""


def test_the_dashboards_button_downloads_the_same_csv(
    admin_client, campaign_factory, bulk_rewards
):
    campaign = campaign_factory()
    bulk_rewards(campaign, 5)

    response = admin_client.get(f"/admin/campaigns/sharecampaign/{campaign.pk}/export/")

    assert response["Content-Type"] == "text/csv"
    assert b"".join(response.streaming_content).decode() == "".join(csv_lines(campaign))


def test_staff_who_may_not_view_campaigns_get_neither_the_csv_nor_the_dashboard(
    client, user_factory, campaign_factory, reward_factory, reader
):
    campaign = campaign_factory()
    reward_factory(reader, campaign, rewarded=True)
    client.force_login(user_factory(is_staff=True))  # staff, no permissions
    base = f"/admin/campaigns/sharecampaign/{campaign.pk}"

    for url in (
        f"{base}/export/",
        f"{base}/dashboard/",
        "/admin/campaigns/sharecampaign/dashboard/",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert reader.email not in response.content.decode()


def test_the_command_writes_the_same_file(tmp_path, campaign_factory, bulk_rewards):
    campaign = campaign_factory()
    bulk_rewards(campaign, 40)
    target = tmp_path / "rewards.csv"

    call_command("export_campaign_rewards", campaign.pk, output=str(target))

    text = target.read_bytes().decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(HEADER)
    assert len(rows) == 41
    assert "".join(csv_lines(campaign)) == text


def export_peak(campaign) -> tuple[int, int]:
    """The most memory the export held at once, and the bytes it wrote."""
    tracemalloc.start()
    try:
        written = sum(len(line) for line in csv_lines(campaign))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, written


def test_exporting_four_times_the_rewards_takes_no_more_memory(
    campaign_factory, bulk_rewards
):
    small, large = campaign_factory(), campaign_factory()
    bulk_rewards(small, 4_000)
    bulk_rewards(large, 16_000)

    small_peak, small_written = export_peak(small)
    large_peak, large_written = export_peak(large)

    assert large_written > 3.9 * small_written
    # Held at once: a chunk of rows, whatever the campaign's size.
    assert large_peak < 1.3 * small_peak, (small_peak, large_peak)
