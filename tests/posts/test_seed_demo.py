import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from campaigns.models import ShareCampaign
from campaigns.services import share_to_x
from posts.management.commands.seed_demo import (
    DEMO_CAMPAIGNS,
    DEMO_TWEETS,
    DEMO_USERS,
    DEMO_X_ACCOUNTS,
    OPENING_HOUR,
)
from posts.models import Post
from sandbox.seed import BLOCKSTER_TWEETS
from social.score import calculate_and_save_score
from social.x_api import XApiClient

# The demo's campaign of several tweets.
MULTI_TWEET = "blockster-on-your-phone"


def test_seed_demo_twice_creates_nothing_twice(db, settings, capsys):
    settings.DEBUG = True

    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out

    assert User.objects.filter(email__in=[user[0] for user in DEMO_USERS]).count() == 4
    assert User.objects.filter(is_staff=True).count() == 1
    assert Post.objects.filter(is_published=True).count() == 4
    assert "users_created=4 posts_created=4 campaigns_created=4" in first
    assert "users_created=0 posts_created=0 campaigns_created=0" in second
    assert ShareCampaign.objects.count() == 4
    assert "admin@blockster.local / blockster-admin" in first


def test_the_demo_campaigns_dashboards_show_their_history(
    db, settings, admin_client, page_text
):
    settings.DEBUG = True
    call_command("seed_demo")

    for slug, (*_, budget, shares, opens_in_days) in DEMO_CAMPAIGNS.items():
        if opens_in_days:
            continue  # a scheduled campaign has no history
        campaign = ShareCampaign.objects.get(post__slug=slug)
        text = page_text(
            admin_client.get(f"/admin/campaigns/sharecampaign/{campaign.pk}/dashboard/")
        )
        assert f"Shares {shares}" in text
        assert "No shares in this period." not in text
        assert "Nothing minted in this period." not in text
        assert "No X requests in this period." not in text
        assert campaign.bux_budget == budget


def test_the_demo_tweets_are_the_sandboxs(sandbox, db):
    x = XApiClient.from_settings()
    for tweet_id, (_, text) in DEMO_TWEETS.items():
        assert x.get_tweet_card(tweet_id).text == text
    assert [text for _, text in DEMO_TWEETS.values()] == list(BLOCKSTER_TWEETS)


def test_make_run_shows_an_open_and_a_scheduled_campaign_with_their_tweets(
    db, settings, client, page_text
):
    settings.DEBUG = True
    call_command("seed_demo")

    home = page_text(client.get("/"))
    scheduled = ShareCampaign.objects.get(starts_at__isnull=False)
    page = page_text(client.get(scheduled.post.get_absolute_url()))
    welcome = page_text(client.get("/welcome-to-blockster"))

    assert "Earn up to 100 BUX" in home  # base 1 at the best X score
    assert "Earn up to 300 BUX" not in home  # the scheduled campaign is not open
    opens = scheduled.starts_at
    assert opens is not None
    assert (opens.hour, opens.minute) == (OPENING_HOUR, 0)
    assert f"Opens {opens:%a} {opens.day} {opens:%b}, 14:00 UTC" in page
    assert "+3 BUX × your X score" in page
    assert "Weekly market notes are out" in page
    assert "What is BUX, and how do you earn it?" in welcome
    assert "Blockster @BlocksterCom" in welcome


def test_the_demo_has_a_campaign_of_three_tweets_with_their_cards(db, settings):
    settings.DEBUG = True
    call_command("seed_demo")

    campaign = ShareCampaign.objects.get(post__slug=MULTI_TWEET)
    tweet_ids = DEMO_CAMPAIGNS[MULTI_TWEET][0]
    tweets = list(campaign.tweets.all())
    assert [tweet.tweet_id for tweet in tweets] == list(tweet_ids)
    for tweet in tweets:
        assert tweet.tweet_url == f"https://x.com/BlocksterCom/status/{tweet.tweet_id}"
        assert tweet.tweet_text == DEMO_TWEETS[tweet.tweet_id][1]
        assert (tweet.tweet_author_name, tweet.tweet_author_username) == (
            "Blockster",
            "BlocksterCom",
        )
        assert tweet.tweet_posted_at is not None
        assert tweet.tweet_deleted_at is None
    assert campaign.is_open
    # Its past shares are of all three.
    shared = campaign.rewards.values_list("campaign_tweet__tweet_id", flat=True)
    assert set(shared) == set(tweet_ids)


def test_a_reader_can_retweet_each_tweet_of_the_demo_campaign(
    sandbox, settings, reader, connect_x
):
    settings.DEBUG = True
    call_command("seed_demo")
    campaign = ShareCampaign.objects.get(post__slug=MULTI_TWEET)
    connect_x(reader)

    outcomes = [share_to_x(reader, campaign, tweet=t) for t in campaign.tweets.all()]

    assert [outcome.ok for outcome in outcomes] == [True, True, True]
    retweeted = {retweet["tweet_id"] for retweet in sandbox.retweets()}
    assert retweeted == set(DEMO_CAMPAIGNS[MULTI_TWEET][0])


def test_seed_demo_logins_work(client, db, settings):
    settings.DEBUG = True
    call_command("seed_demo")

    response = client.post(
        "/accounts/login/",
        {"login": "reader@blockster.local", "password": "blockster-reader"},
    )

    assert response.status_code == 302


def test_the_demo_readers_x_accounts_give_low_middle_and_high_scores(
    sandbox, connect_x, settings, capsys
):
    settings.DEBUG = True
    call_command("seed_demo")
    logins = capsys.readouterr().out
    persona_of = {a["username"]: a["key"] for a in sandbox.state()["accounts"]}

    scores = []
    for email, (username, _) in DEMO_X_ACCOUNTS.items():
        assert f"connect X as @{username}" in logins
        # What the X consent page does when the reader picks that account.
        reader = User.objects.get(email=email)
        connection = connect_x(reader, persona_of[username], score=None)
        scores.append(calculate_and_save_score(connection).total)

    low, middle, high = scores
    assert low <= 20 < middle <= 50 < high


def test_seed_demo_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only with DEBUG=1"):
        call_command("seed_demo")
    assert not User.objects.exists()
