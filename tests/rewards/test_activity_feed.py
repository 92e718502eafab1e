from __future__ import annotations

import html
import re
from decimal import Decimal

from campaigns.models import ShareReward
from rewards.mirror import backfill, read, schema, write
from rewards.mirror.check import check_mirror
from tests.rewards.mirror_helpers import at


def rewarded_shares(owner, reward_factory, count: int) -> list[ShareReward]:
    """`count` rewarded shares, the first the newest, mirrored."""
    rows = [
        reward_factory(
            owner,
            rewarded=True,
            bux_rewarded=Decimal(100 + n),
            rewarded_at=at(60 * (n + 1)),
        )
        for n in range(count)
    ]
    write.sync_share_rewards([schema.reward_ref(r) for r in rows])
    return rows


def test_list_user_share_rewards_has_the_specified_shape(owner, reward_factory):
    [newest, older] = rewarded_shares(owner, reward_factory, 2)
    reward_factory(owner, verified=True)
    backfill.sync_all_share_rewards()

    shares = read.list_user_share_rewards(owner.pk)

    assert shares == [
        {
            "type": "x_share",
            "label": "X Share",
            "amount": Decimal("100.00"),
            "retweet_id": newest.retweet_id,
            "tx_hash": newest.tx_hash,
            "timestamp": newest.rewarded_at,
        },
        {
            "type": "x_share",
            "label": "X Share",
            "amount": Decimal("101.00"),
            "retweet_id": older.retweet_id,
            "tx_hash": older.tx_hash,
            "timestamp": older.rewarded_at,
        },
    ]


def test_list_user_share_rewards_pages_past_other_kinds(owner, reward_factory, redis):
    rows = rewarded_shares(owner, reward_factory, 5)
    feed = schema.activity_feed_key(owner.pk)
    for n in range(60):
        redis.zadd(feed, {f'{{"id":"post_read:{n}","type":"post_read"}}': 9e9})

    page = read.list_user_share_rewards(owner.pk, offset=2, limit=2)

    assert [share["tx_hash"] for share in page] == [rows[2].tx_hash, rows[3].tx_hash]


def test_list_user_share_rewards_reads_redis_alone(owner, reward_factory, redis):
    [reward] = rewarded_shares(owner, reward_factory, 1)
    ShareReward.objects.all().delete()

    assert read.list_user_share_rewards(owner.pk)[0]["tx_hash"] == reward.tx_hash


def entries(body: str) -> list[str]:
    return re.findall(r'data-entry="(\w+)"', body)


def test_the_member_page_lists_shares_newest_first_with_links(
    client, owner, reward_factory, settings
):
    settings.BUX_EXPLORER_TX_URL = "https://explorer.example/tx/{tx}"
    [newest, older] = rewarded_shares(owner, reward_factory, 2)

    body = client.get(f"/members/{owner.pk}").content.decode()

    newest_link = f'href="https://x.com/i/status/{newest.retweet_id}"'
    assert newest_link in body
    assert f'href="https://explorer.example/tx/{newest.tx_hash}"' in body
    assert body.index(newest.tx_hash) < body.index(older.tx_hash)
    assert "+100 BUX" in body and "+101 BUX" in body
    assert "a minute ago" in body and "2\xa0minutes ago" in body
    assert "Olive Owner" in body  # the rest of the page is still there


def test_without_an_explorer_the_hash_is_shortened(
    client, owner, reward_factory, settings
):
    settings.BUX_EXPLORER_TX_URL = ""
    [reward] = rewarded_shares(owner, reward_factory, 1)

    body = client.get(f"/members/{owner.pk}").content.decode()

    assert reward.tx_hash is not None
    short = f"{reward.tx_hash[:6]}…{reward.tx_hash[-4:]}"
    assert f'<span class="mono small" title="{reward.tx_hash}">{short}</span>' in body
    assert "explorer" not in body


def test_the_feed_pages_twenty_at_a_time(client, owner, reward_factory):
    rows = rewarded_shares(owner, reward_factory, 23)

    first = client.get(f"/members/{owner.pk}").content.decode()
    second = client.get(f"/members/{owner.pk}?page=2").content.decode()

    assert len(entries(first)) == 20 and len(entries(second)) == 3
    assert rows[19].tx_hash in first and rows[20].tx_hash not in first
    assert rows[20].tx_hash in second and rows[0].tx_hash not in second
    assert re.search(r'href="\?page=2&amp;as_of=\d+#activity"', first)
    assert "Page 2 of 2" in second
    # An out-of-range page shows the last page rather than an error.
    beyond = client.get(f"/members/{owner.pk}?page=9").content.decode()
    assert rows[22].tx_hash in beyond


def test_the_feed_follows_the_redis_copy(client, owner, reward_factory, redis):
    [reward] = rewarded_shares(owner, reward_factory, 1)
    feed = schema.activity_feed_key(owner.pk)
    [entry] = redis.zrange(feed, 0, -1)
    redis.zrem(feed, entry)
    redis.zadd(feed, {entry.replace(reward.tx_hash, "0x" + "12" * 32): 1})

    body = client.get(f"/members/{owner.pk}").content.decode()

    assert reward.tx_hash is not None
    assert "0x1212" in body and reward.tx_hash[:6] + "…" not in body


def test_with_redis_down_the_feed_comes_from_postgresql(
    owned_redis, client, owner, reward_factory
):
    [reward] = rewarded_shares(owner, reward_factory, 1)

    with owned_redis.down():
        response = client.get(f"/members/{owner.pk}")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Showing X shares only" in body
    assert "Olive Owner" in body and entries(body) == ["x_share"]
    assert f"https://x.com/i/status/{reward.retweet_id}" in body
    assert reward.tx_hash is not None and reward.tx_hash[:6] in body


def test_a_member_without_activity_sees_the_empty_state(client, owner):
    body = client.get(f"/members/{owner.pk}").content.decode()

    assert "No activity yet." in body


def feed_html(body: str) -> str:
    """The feed's entries and day headings, as the page renders them."""
    start = body.index('<section class="card" id="activity">')
    return body[start : body.index("</section>", start)]


def test_each_entry_names_the_post_what_was_done_and_links_the_retweet_and_tx(
    client, owner, reward_factory, settings
):
    settings.BUX_EXPLORER_TX_URL = "https://explorer.example/tx/{tx}"
    liked = reward_factory(
        owner,
        rewarded=True,
        liked=True,
        retweet_post_id="1865000000000099001",
        rewarded_at=at(60),
    )
    liked.campaign.post.title = "Why BUX & Blockster"
    liked.campaign.post.save()
    plain = reward_factory(owner, rewarded=True, rewarded_at=at(3 * 86400))
    write.sync_share_rewards([schema.reward_ref(r) for r in (liked, plain)])

    feed = feed_html(client.get(f"/members/{owner.pk}").content.decode())

    post = liked.campaign.post
    assert (
        f'<a class="activity-title" href="{post.get_absolute_url()}">'
        "Why BUX &amp; Blockster</a>"
    ) in feed
    assert "Retweeted &amp; Liked" in feed
    assert 'href="https://x.com/i/status/1865000000000099001"' in feed
    assert f'href="https://explorer.example/tx/{liked.tx_hash}"' in feed
    # The share whose retweet was not looked up links the post it retweeted.
    assert f'data-link="tweet" href="https://x.com/i/status/{plain.retweet_id}"' in feed
    assert plain.campaign.post.title in feed
    # One heading per day, newest first.
    days = re.findall(r'<h3 class="activity-day"><time datetime="([\d-]+)">', feed)
    assert days == [
        liked.rewarded_at.date().isoformat(),
        plain.rewarded_at.date().isoformat(),
    ]
    assert ">Today<" in feed or ">Yesterday<" in feed


def test_with_redis_down_the_entries_read_the_same(
    owned_redis, client, owner, reward_factory
):
    rewarded_shares(owner, reward_factory, 3)
    backfill.sync_all_share_rewards()

    from_redis = feed_html(client.get(f"/members/{owner.pk}").content.decode())
    with owned_redis.down():
        page = client.get(f"/members/{owner.pk}").content.decode()

    from_postgresql = feed_html(page)
    assert "Showing X shares only" in from_postgresql
    quiet_line = r'<p class="muted small" role="status">.*?</p>'
    assert re.sub(quiet_line, "", from_postgresql).split() == from_redis.split()


def test_a_renamed_post_is_renamed_in_the_feed_by_the_repair(
    client, owner, reward_factory
):
    [reward] = rewarded_shares(owner, reward_factory, 1)
    post = reward.campaign.post
    post.title = "A better title"
    post.save()

    assert check_mirror().drift["activity_feed"] >= 1
    check_mirror(repair=True)

    feed = feed_html(client.get(f"/members/{owner.pk}").content.decode())
    assert "A better title" in feed


def test_the_next_page_continues_where_the_first_ended_as_shares_arrive(
    client, owner, reward_factory, owned_redis
):
    rows = rewarded_shares(owner, reward_factory, 23)
    backfill.sync_all_share_rewards()
    first = client.get(f"/members/{owner.pk}").content.decode()
    link = re.search(r'href="([^"]+)" rel="next"', first)
    assert link is not None
    older = html.unescape(link.group(1))
    # Two shares rewarded after the first page was read.
    newer = [reward_factory(owner, rewarded=True, rewarded_at=at(-5)) for _ in range(2)]
    write.sync_share_rewards([schema.reward_ref(r) for r in newer])

    second = client.get(f"/members/{owner.pk}{older}").content.decode()
    with owned_redis.down():
        from_postgresql = client.get(f"/members/{owner.pk}{older}").content.decode()

    for page in (second, from_postgresql):
        assert len(entries(page)) == 3
        assert all(row.tx_hash in page for row in rows[20:])
        assert rows[19].tx_hash not in page


def test_a_share_undone_after_payout_stays_in_the_feed_saying_so(
    owned_redis, client, owner, reward_factory
):
    kept = reward_factory(owner, rewarded=True, rewarded_at=at(60))
    undone = reward_factory(
        owner, undone=True, rewarded_at=at(120), retweet_post_id="1865000000000099002"
    )
    backfill.sync_all_share_rewards()
    write.sync_share_rewards([schema.reward_ref(r) for r in (kept, undone)])

    from_redis = feed_html(client.get(f"/members/{owner.pk}").content.decode())
    assert "Showing X shares only" not in from_redis
    assert check_mirror().in_sync
    with owned_redis.down():
        page = client.get(f"/members/{owner.pk}").content.decode()

    # Its BUX stay minted: the entry, its amount and its transaction stay listed,
    # saying the retweet was taken back, with no link to a retweet that is gone.
    assert entries(from_redis) == ["x_share", "x_share"]
    assert from_redis.count(schema.RETWEET_UNDONE) == 1
    assert undone.tx_hash is not None and undone.tx_hash[:6] in from_redis
    assert "1865000000000099002" not in from_redis
    from_postgresql = feed_html(page)
    quiet_line = r'<p class="muted small" role="status">.*?</p>'
    assert re.sub(quiet_line, "", from_postgresql).split() == from_redis.split()


def test_two_tweets_of_one_campaign_are_two_entries_from_redis_and_postgresql(
    owned_redis, client, owner, campaign_factory, reward_factory
):
    campaign = campaign_factory(tweets=2)
    shares = [
        reward_factory(
            owner, campaign, campaign_tweet=tweet, rewarded=True, rewarded_at=at(60 * n)
        )
        for n, tweet in enumerate(campaign.tweets.all(), start=1)
    ]
    backfill.sync_all_share_rewards()

    from_redis = feed_html(client.get(f"/members/{owner.pk}").content.decode())
    with owned_redis.down():
        page = client.get(f"/members/{owner.pk}").content.decode()

    assert entries(from_redis) == ["x_share", "x_share"]
    for share in shares:
        assert share.tx_hash is not None and share.tx_hash[:6] in from_redis
        assert f"https://x.com/i/status/{share.retweet_id}" in from_redis
    from_postgresql = feed_html(page)
    quiet_line = r'<p class="muted small" role="status">.*?</p>'
    assert re.sub(quiet_line, "", from_postgresql).split() == from_redis.split()
