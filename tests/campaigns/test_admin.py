from __future__ import annotations

import itertools
import re
import threading
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import forms as campaign_forms
from campaigns.forms import ShareCampaignForm
from campaigns.models import CampaignStatus, CampaignTweet, ShareCampaign, ShareReward
from campaigns.services import create_share_campaign, is_campaign_full
from posts.models import Post

Status = ShareReward.Status
TWEET = "https://x.com/BlocksterCom/status/1790000000000000001"
CAMPAIGNS_URL = "/admin/campaigns/sharecampaign/"
REWARDS_URL = "/admin/campaigns/sharereward/"
_numbers = itertools.count(1)


# The tweets these tests put in campaigns, on the sandbox's X: the admin reads each
# one when it is added (tests/campaigns/test_campaign_tweet.py tests that reading).
TWEET_IDS = (
    "1790000000000000001",
    "1234567890",
    "31337",
    "555",
    *(str(n) for n in range(42, 44)),
    *(str(n) for n in range(77, 81)),
)


@pytest.fixture(autouse=True)
def tweets_on_x(sandbox):
    for tweet_id in TWEET_IDS:
        sandbox.create_tweet(f"Campaign tweet {tweet_id}", id=tweet_id)


def post_form(
    post: Post | None, author, *, campaign: ShareCampaign | None = None, **inline: str
) -> dict[str, str]:
    """The post admin form as a browser submits it, with the campaign inline."""
    n = next(_numbers)
    data = {
        "title": post.title if post else f"Posted story {n}",
        "slug": post.slug if post else f"posted-story-{n}",
        "body": post.body if post else "Body.",
        "author": str(author.pk),
        "published_at_0": "",
        "published_at_1": "",
        "share_campaign-TOTAL_FORMS": "1",
        "share_campaign-INITIAL_FORMS": "1" if campaign else "0",
        "share_campaign-MIN_NUM_FORMS": "0",
        "share_campaign-MAX_NUM_FORMS": "1",
        "share_campaign-0-id": str(campaign.pk) if campaign else "",
        "share_campaign-0-post": str(post.pk) if post else "",
    }
    fields = {
        "tweet_urls": tweet_urls(campaign) if campaign else "",
        "bux_reward": str(campaign.bux_reward) if campaign else "50",
        "is_active": "on",
        "request_like": "on",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "max_participants": (
            str(campaign.max_participants)
            if campaign and campaign.max_participants
            else ""
        ),
    }
    if campaign:
        for flag in ("is_active", "request_like"):
            if not getattr(campaign, flag):
                del fields[flag]
    fields.update(inline)
    data.update({f"share_campaign-0-{name}": v for name, v in fields.items()})
    return {name: v for name, v in data.items() if v is not None}


def tweet_urls(campaign: ShareCampaign) -> str:
    """The campaign's tweets as the form's text box holds them."""
    return "\n".join(tweet.tweet_url for tweet in campaign.tweets.all())


def tweets_of(campaign: ShareCampaign) -> list[tuple[int, str, str]]:
    return list(campaign.tweets.values_list("position", "tweet_id", "tweet_url"))


def form_errors(response) -> list[str]:
    errors = []
    for formset in response.context["inline_admin_formsets"]:
        for form in formset.formset.forms:
            errors += [e for messages in form.errors.values() for e in messages]
    errors += [
        e
        for messages in response.context["adminform"].form.errors.values()
        for e in messages
    ]
    return errors


# --- Tweet URLs on the post form ------------------------------------------------------

GOOD_URLS = [
    ("https://x.com/BlocksterCom/status/1790000000000000001", "1790000000000000001"),
    ("https://twitter.com/BlocksterCom/status/1234567890", "1234567890"),
    ("https://mobile.twitter.com/some_one/status/42", "42"),
    ("https://mobile.x.com/some_one/status/43?s=20", "43"),
    ("https://x.com/BlocksterCom/status/77?s=46&t=AbCdEf", "77"),
    ("https://x.com/BlocksterCom/status/78/", "78"),
    ("https://www.twitter.com/BlocksterCom/status/79/?ref_src=twsrc", "79"),
    ("x.com/BlocksterCom/status/80", "80"),
]
BAD_URLS = [
    "https://example.com/BlocksterCom/status/123",
    "https://x.com.evil.example/BlocksterCom/status/123",
    "https://notx.com/BlocksterCom/status/123",
    "https://x.com/BlocksterCom/status/",
    "https://x.com/BlocksterCom/status/12abc",
    "https://x.com/BlocksterCom",
    "https://x.com/BlocksterCom/likes",
    "not a url at all",
    "ftp://x.com/BlocksterCom/status/123",
]


@pytest.mark.parametrize(("url", "tweet_id"), GOOD_URLS)
def test_new_post_with_a_tweet_url_gets_a_campaign(admin_client, owner, url, tweet_id):
    data = post_form(None, owner, tweet_urls=url)

    response = admin_client.post("/admin/posts/post/add/", data)

    assert response.status_code == 302, form_errors(response)
    campaign = ShareCampaign.objects.get(post__slug=data["slug"])
    assert [tweet_id for _, tweet_id, _ in tweets_of(campaign)] == [tweet_id]
    assert campaign.total_shares == 0
    assert campaign.is_active and campaign.request_like
    assert campaign.bux_reward == Decimal("50")


@pytest.mark.parametrize(("url", "tweet_id"), GOOD_URLS)
def test_campaign_added_to_an_existing_post(
    admin_client, owner, url, tweet_id, post_factory
):
    post = post_factory()

    response = admin_client.post(
        f"/admin/posts/post/{post.pk}/change/",
        post_form(
            post, owner, tweet_urls=url, bux_reward="12.5", max_participants="30"
        ),
    )

    assert response.status_code == 302, form_errors(response)
    campaign = ShareCampaign.objects.get(post=post)
    assert (
        campaign.first_tweet.tweet_id,
        campaign.bux_reward,
        campaign.max_participants,
    ) == (
        tweet_id,
        Decimal("12.5"),
        30,
    )


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_tweet_url_is_a_form_error_on_the_post_form(
    admin_client, owner, url, post_factory
):
    post = post_factory()

    response = admin_client.post(
        f"/admin/posts/post/{post.pk}/change/", post_form(post, owner, tweet_urls=url)
    )

    assert response.status_code == 200
    assert form_errors(response)
    assert not ShareCampaign.objects.filter(post=post).exists()


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_tweet_url_never_replaces_a_campaigns_tweet(
    admin_client, owner, url, campaign_factory
):
    campaign = campaign_factory(tweet_url=TWEET)

    response = admin_client.post(
        f"/admin/posts/post/{campaign.post.pk}/change/",
        post_form(campaign.post, owner, campaign=campaign, tweet_urls=url),
    )

    assert response.status_code == 200
    assert form_errors(response)
    assert tweets_of(campaign) == [(0, "1790000000000000001", TWEET)]


def test_bad_tweet_url_message_says_what_is_expected(admin_client, owner, post_factory):
    post = post_factory()

    response = admin_client.post(
        f"/admin/posts/post/{post.pk}/change/",
        post_form(post, owner, tweet_urls="https://x.com/BlocksterCom"),
    )

    assert form_errors(response) == [
        "https://x.com/BlocksterCom: Enter the link of a post on X, like "
        "https://x.com/handle/status/1234567890."
    ]


def test_post_saved_without_a_tweet_url_has_no_campaign(admin_client, owner):
    data = post_form(None, owner)

    response = admin_client.post("/admin/posts/post/add/", data)

    assert response.status_code == 302
    assert Post.objects.filter(slug=data["slug"]).exists()
    assert not ShareCampaign.objects.exists()


def test_replacing_an_unshared_tweet_url_replaces_the_tweet(
    admin_client, owner, campaign_factory
):
    campaign = campaign_factory(tweet_url=TWEET)

    response = admin_client.post(
        f"/admin/posts/post/{campaign.post.pk}/change/",
        post_form(
            campaign.post,
            owner,
            campaign=campaign,
            tweet_urls="https://twitter.com/Other/status/555",
        ),
    )

    assert response.status_code == 302, form_errors(response)
    assert tweets_of(campaign) == [(0, "555", "https://twitter.com/Other/status/555")]


# --- Several tweets on the post form --------------------------------------------------


def x_reads(sandbox) -> int:
    """How many tweets the app has read from the sandbox's X so far."""
    return sum(r["route"] == "/2/tweets/:id" for r in sandbox.requests()["log"])


def x_url(tweet: dict) -> str:
    return f"https://x.com/BlocksterCom/status/{tweet['id']}"


def test_a_post_form_starts_a_campaign_with_two_tweets_read_from_x(
    admin_client, owner, sandbox
):
    thread = sandbox.create_tweet("Launch day: a thread on what is new (1/3)")
    announcement = sandbox.create_tweet("Announcing the Blockster app.")
    reads = x_reads(sandbox)
    # A browser sends the text box's lines with CRLF; blank lines are nothing.
    urls = f"{x_url(thread)}\r\n\r\n  {x_url(announcement)}  \r\n"
    data = post_form(None, owner, tweet_urls=urls)

    response = admin_client.post("/admin/posts/post/add/", data)

    assert response.status_code == 302, form_errors(response)
    campaign = ShareCampaign.objects.get(post__slug=data["slug"])
    assert list(campaign.tweets.values_list("position", "tweet_id", "tweet_text")) == [
        (0, thread["id"], "Launch day: a thread on what is new (1/3)"),
        (1, announcement["id"], "Announcing the Blockster app."),
    ]
    assert all(
        t.tweet_posted_at and t.tweet_author_username for t in campaign.tweets.all()
    )
    assert x_reads(sandbox) == reads + 2


def test_editing_adds_a_third_tweet_and_reorders_without_reading_the_others_again(
    admin_client, owner, campaign_factory, sandbox
):
    first, second, third = (
        sandbox.create_tweet(f"Tweet {n} of the campaign") for n in (1, 2, 3)
    )
    campaign = campaign_factory(tweet_urls=[x_url(first), x_url(second)])
    kept = dict(campaign.tweets.values_list("tweet_id", "pk"))
    reads = x_reads(sandbox)
    urls = "\n".join(x_url(tweet) for tweet in (second, third, first))

    response = admin_client.post(
        f"/admin/posts/post/{campaign.post.pk}/change/",
        post_form(campaign.post, owner, campaign=campaign, tweet_urls=urls),
    )

    assert response.status_code == 302, form_errors(response)
    assert [tweet_id for _, tweet_id, _ in tweets_of(campaign)] == [
        second["id"],
        third["id"],
        first["id"],
    ]
    # The tweets it had are the same rows; only the new one was read from X.
    rows = dict(campaign.tweets.values_list("tweet_id", "pk"))
    assert {rows[first["id"]], rows[second["id"]]} == set(kept.values())
    assert (
        campaign.tweets.get(tweet_id=third["id"]).tweet_text
        == "Tweet 3 of the campaign"
    )
    assert x_reads(sandbox) == reads + 1


def test_an_unshared_tweet_can_be_taken_out(admin_client, owner, campaign_factory):
    campaign = campaign_factory(tweets=2)
    first = campaign.first_tweet

    response = admin_client.post(
        f"/admin/posts/post/{campaign.post.pk}/change/",
        post_form(campaign.post, owner, campaign=campaign, tweet_urls=first.tweet_url),
    )

    assert response.status_code == 302, form_errors(response)
    assert tweets_of(campaign) == [(0, first.tweet_id, first.tweet_url)]


def test_a_shared_tweet_cannot_be_taken_out(
    admin_client, owner, campaign_factory, reward_factory, user_factory
):
    campaign = campaign_factory(tweets=2)
    first, shared = campaign.tweets.all()
    for reward in ({"rewarded": True}, {"failed": True}, {}):
        reward_factory(user_factory(), campaign, campaign_tweet=shared, **reward)
    before = tweets_of(campaign)

    response = admin_client.post(
        f"/admin/posts/post/{campaign.post.pk}/change/",
        post_form(campaign.post, owner, campaign=campaign, tweet_urls=first.tweet_url),
    )

    assert response.status_code == 200
    assert form_errors(response) == [
        f"The post {shared.tweet_url} was shared by 3 readers: it stays in the "
        "campaign. To stop its shares, deactivate the campaign instead."
    ]
    assert tweets_of(campaign) == before


def test_a_post_listed_twice_is_refused_naming_it(admin_client, owner, post_factory):
    post = post_factory()
    again = "https://twitter.com/someone/status/1790000000000000001?s=20"

    response = admin_client.post(
        f"/admin/posts/post/{post.pk}/change/",
        post_form(
            post,
            owner,
            tweet_urls=f"{TWEET}\nhttps://x.com/BlocksterCom/status/555\n{again}",
        ),
    )

    assert response.status_code == 200
    assert form_errors(response) == [f"The post {again} is listed twice."]
    assert not ShareCampaign.objects.filter(post=post).exists()


def test_a_new_tweet_x_does_not_show_is_refused_naming_its_url(
    admin_client, owner, campaign_factory, sandbox
):
    campaign = campaign_factory(tweet_url=TWEET)
    gone = sandbox.create_tweet("Posted, then deleted")
    sandbox.delete_tweet(gone["id"])
    urls = f"{TWEET}\nhttps://x.com/BlocksterCom/status/555\n{x_url(gone)}"

    response = admin_client.post(
        f"/admin/posts/post/{campaign.post.pk}/change/",
        post_form(campaign.post, owner, campaign=campaign, tweet_urls=urls),
    )

    assert response.status_code == 200
    assert form_errors(response) == [
        f"{x_url(gone)}: X does not show this post to the public: it does not "
        "exist, was deleted, or its account is protected. Readers could not "
        "retweet it."
    ]
    assert tweets_of(campaign) == [(0, "1790000000000000001", TWEET)]


def test_every_bad_line_is_named(admin_client, owner, post_factory):
    post = post_factory()

    response = admin_client.post(
        f"/admin/posts/post/{post.pk}/change/",
        post_form(
            post, owner, tweet_urls=f"{TWEET}\nnot a link\nhttps://x.com/a/likes"
        ),
    )

    expected = (
        "Enter the link of a post on X, like https://x.com/handle/status/1234567890."
    )
    assert form_errors(response) == [
        f"not a link: {expected}",
        f"https://x.com/a/likes: {expected}",
    ]


def test_a_campaign_needs_a_tweet(admin_client, post_factory):
    post = post_factory()

    response = admin_client.post(f"{CAMPAIGNS_URL}add/", campaign_form(post, "\n \n"))

    assert response.context["adminform"].form.errors == {
        "tweet_urls": ["Add the link of at least one post on X."]
    }


def test_a_second_active_campaign_cannot_take_one_of_several_tweets(
    admin_client, post_factory, campaign_factory
):
    running = campaign_factory(tweet_url=TWEET)
    post = post_factory()
    urls = f"https://x.com/BlocksterCom/status/555\n{TWEET}"

    response = admin_client.post(f"{CAMPAIGNS_URL}add/", campaign_form(post, urls))

    assert response.context["adminform"].form.errors == {
        "tweet_urls": [tweet_in_use(running)]
    }
    assert not ShareCampaign.objects.filter(post=post).exists()


def test_the_campaign_page_lists_its_tweets_with_their_shares(
    admin_client, campaign_factory, reward_factory, user_factory
):
    campaign = campaign_factory(
        tweet_urls=[f"https://x.com/BlocksterCom/status/{n}" for n in (42, 43)]
    )
    second = campaign.tweets.get(tweet_id="43")
    reward_factory(user_factory(), campaign, campaign_tweet=second, rewarded=True)

    response = admin_client.get(f"{CAMPAIGNS_URL}{campaign.pk}/change/")

    content = response.content.decode()
    table = content[content.index('class="campaign-tweets"') :]
    rows = [
        page_text_of(row) for row in table[: table.index("</tbody>")].split("<tr>")[2:]
    ]
    assert rows == [
        "1 42 — — — Not read from X 0",
        "2 43 — — — Not read from X 1",
    ]
    form = response.context["adminform"].form
    assert form.initial["tweet_urls"] == [
        "https://x.com/BlocksterCom/status/42",
        "https://x.com/BlocksterCom/status/43",
    ]


def page_text_of(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


# --- Re-saving a post keeps its campaign ----------------------------------------------


@pytest.fixture
def running_campaign(campaign_factory) -> ShareCampaign:
    now = timezone.now().replace(microsecond=0)
    campaign = campaign_factory(
        tweet_url=TWEET,
        bux_reward=Decimal("25"),
        request_like=False,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=6),
        max_participants=40,
    )
    ShareCampaign.objects.filter(pk=campaign.pk).update(total_shares=7)
    campaign.refresh_from_db()
    return campaign


def _window(campaign: ShareCampaign) -> dict[str, str]:
    starts = timezone.localtime(campaign.starts_at)
    ends = timezone.localtime(campaign.ends_at)
    return {
        "starts_at_0": starts.strftime("%Y-%m-%d"),
        "starts_at_1": starts.strftime("%H:%M:%S"),
        "ends_at_0": ends.strftime("%Y-%m-%d"),
        "ends_at_1": ends.strftime("%H:%M:%S"),
    }


def _campaign_values(campaign: ShareCampaign) -> tuple:
    return (
        campaign.pk,
        list(campaign.tweets.values_list("pk", "position", "tweet_id", "tweet_url")),
        campaign.bux_reward,
        campaign.request_like,
        campaign.is_active,
        campaign.starts_at,
        campaign.ends_at,
        campaign.max_participants,
        campaign.total_shares,
    )


def test_resaving_a_post_keeps_its_campaign_and_counters(
    admin_client, owner, running_campaign
):
    post = running_campaign.post
    before = _campaign_values(running_campaign)
    data = post_form(
        post, owner, campaign=running_campaign, **_window(running_campaign)
    )
    data["title"] = "A better title"

    response = admin_client.post(f"/admin/posts/post/{post.pk}/change/", data)

    assert response.status_code == 302, form_errors(response)
    post.refresh_from_db()
    assert post.title == "A better title"
    assert ShareCampaign.objects.count() == 1
    assert _campaign_values(ShareCampaign.objects.get()) == before


def test_editing_the_campaign_on_the_post_form_keeps_total_shares(
    admin_client, owner, running_campaign
):
    data = post_form(
        running_campaign.post,
        owner,
        campaign=running_campaign,
        bux_reward="30",
        # A forged counter in the submission is ignored: the form has no such field.
        total_shares="0",
        **_window(running_campaign),
    )

    response = admin_client.post(
        f"/admin/posts/post/{running_campaign.post.pk}/change/", data
    )

    assert response.status_code == 302, form_errors(response)
    running_campaign.refresh_from_db()
    assert running_campaign.bux_reward == Decimal("30")
    assert running_campaign.total_shares == 7


def test_campaign_form_keeps_a_share_counted_while_it_was_submitted(
    db, running_campaign
):
    stale = ShareCampaign.objects.get(pk=running_campaign.pk)
    form = ShareCampaignForm(
        data={
            "post": running_campaign.post.pk,
            "tweet_urls": TWEET,
            "bux_reward": "60",
            "is_active": "on",
        },
        instance=stale,
    )
    assert form.is_valid(), form.errors
    # A reader's share is counted between loading the campaign and saving the form.
    ShareCampaign.objects.filter(pk=stale.pk).update(total_shares=8)

    form.save()

    running_campaign.refresh_from_db()
    assert running_campaign.bux_reward == Decimal("60")
    assert running_campaign.total_shares == 8


def test_campaign_without_participants_can_be_removed_from_the_post_form(
    admin_client, owner, campaign_factory
):
    campaign = campaign_factory()
    data = post_form(campaign.post, owner, campaign=campaign)
    data["share_campaign-0-DELETE"] = "on"

    response = admin_client.post(f"/admin/posts/post/{campaign.post.pk}/change/", data)

    assert response.status_code == 302, form_errors(response)
    assert not ShareCampaign.objects.filter(pk=campaign.pk).exists()


def test_campaign_with_participants_cannot_be_deleted(
    admin_client, owner, user_factory, campaign_factory, reward_factory
):
    campaign = campaign_factory()
    reward_factory(user_factory(), campaign, failed=True)
    data = post_form(campaign.post, owner, campaign=campaign)
    data["share_campaign-0-DELETE"] = "on"

    admin_client.post(f"/admin/posts/post/{campaign.post.pk}/change/", data)
    delete_page = admin_client.post(
        f"{CAMPAIGNS_URL}{campaign.pk}/delete/", {"post": "yes"}
    )

    assert delete_page.status_code == 403
    assert ShareCampaign.objects.filter(pk=campaign.pk).exists()


# --- Constraints are form errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {
                "starts_at_0": "2026-06-10",
                "starts_at_1": "12:00:00",
                "ends_at_0": "2026-06-10",
                "ends_at_1": "11:00:00",
            },
            "ends_at",
            "The end must be after the start.",
        ),
        (
            {
                "starts_at_0": "2026-06-10",
                "starts_at_1": "12:00:00",
                "ends_at_0": "2026-06-10",
                "ends_at_1": "12:00:00",
            },
            "ends_at",
            "The end must be after the start.",
        ),
        ({"max_participants": "0"}, "max_participants", "Enter at least 1"),
        ({"bux_reward": "-1"}, "bux_reward", "greater than or equal to 0"),
    ],
)
def test_invalid_campaign_values_are_form_errors(
    admin_client, owner, fields, field, message, post_factory
):
    post = post_factory()

    response = admin_client.post(
        f"/admin/posts/post/{post.pk}/change/",
        post_form(post, owner, tweet_urls=TWEET, **fields),
    )

    assert response.status_code == 200
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert any(message in error for error in form.errors[field])
    assert not ShareCampaign.objects.exists()


def test_invalid_values_on_the_campaign_admin_are_form_errors(
    admin_client, post_factory
):
    post = post_factory()

    response = admin_client.post(
        f"{CAMPAIGNS_URL}add/",
        {
            "post": post.pk,
            "tweet_urls": "https://x.com/BlocksterCom",
            "bux_reward": "50",
            "ends_at_0": "2026-01-01",
            "ends_at_1": "00:00:00",
            "starts_at_0": "2026-02-01",
            "starts_at_1": "00:00:00",
            "max_participants": "0",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"tweet_urls", "ends_at", "max_participants"}
    assert not ShareCampaign.objects.exists()


def test_campaign_admin_creates_a_campaign_from_a_url(admin_client, post_factory):
    post = post_factory()

    response = admin_client.post(
        f"{CAMPAIGNS_URL}add/",
        {
            "post": post.pk,
            "tweet_urls": "https://twitter.com/BlocksterCom/status/31337?s=20",
            "bux_reward": "5",
            "is_active": "on",
            "starts_at_0": "",
            "starts_at_1": "",
            "ends_at_0": "",
            "ends_at_1": "",
            "max_participants": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = ShareCampaign.objects.get(post=post)
    assert (campaign.first_tweet.tweet_id, campaign.request_like) == ("31337", False)


# --- Campaign list and change page ----------------------------------------------------


@pytest.fixture
def campaigns_in_every_state(
    user_factory, campaign_factory, reward_factory
) -> dict[str, ShareCampaign]:
    now = timezone.now()
    campaigns = {
        "Active": campaign_factory(max_participants=5),
        "Scheduled": campaign_factory(starts_at=now + timedelta(days=2)),
        "Ended": campaign_factory(
            starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=2)
        ),
        "Full": campaign_factory(max_participants=2),
        # A title no other campaign's title or tweet id shares a word with.
        "Inactive": campaign_factory(is_active=False, post__title="Quiet announcement"),
    }
    for status in (Status.REWARDED, Status.PENDING):
        reward_factory(user_factory(), campaigns["Full"], status=status)
    reward_factory(user_factory(), campaigns["Active"], rewarded=True)
    # A failed reward holds no place.
    reward_factory(user_factory(), campaigns["Active"], failed=True)
    ShareCampaign.objects.filter(pk=campaigns["Active"].pk).update(total_shares=1)
    return campaigns


def _row(content: str, title: str) -> str:
    start = content.index(f">{title}<")
    return content[start : content.index("</tr>", start)]


def test_campaign_list_shows_status_shares_and_tweet(
    admin_client, campaigns_in_every_state, django_assert_max_num_queries
):
    # The page's queries, and one for every listed campaign's tweets.
    with django_assert_max_num_queries(7):
        response = admin_client.get(CAMPAIGNS_URL)

    content = response.content.decode()
    for label, campaign in campaigns_in_every_state.items():
        row = _row(content, campaign.post.title)
        assert f'<td class="field-status">{label}</td>' in row
        assert f'href="{campaign.first_tweet.tweet_url}"' in row
    active = _row(content, campaigns_in_every_state["Active"].post.title)
    assert '<td class="field-places">1 / 5</td>' in active
    inactive = _row(content, campaigns_in_every_state["Inactive"].post.title)
    assert '<td class="field-places">0 / ∞</td>' in inactive


def test_campaign_list_shows_each_tweet_and_which_are_deleted_on_x(
    admin_client, campaign_factory
):
    campaign = campaign_factory(tweets=2)
    first, second = campaign.tweets.all()
    CampaignTweet.objects.filter(pk=second.pk).update(tweet_deleted_at=timezone.now())

    row = _row(admin_client.get(CAMPAIGNS_URL).content.decode(), campaign.post.title)

    assert (
        f'<a href="{first.tweet_url}" target="_blank" rel="noopener noreferrer">'
        f"{first.tweet_id}</a><br>"
        f'<a href="{second.tweet_url}" target="_blank" rel="noopener noreferrer">'
        f"{second.tweet_id}</a> (deleted on X)"
    ) in row
    assert '<td class="field-status">Active · 1 of 2 tweets deleted on X</td>' in row


def test_search_finds_a_campaign_by_any_of_its_tweets(admin_client, campaign_factory):
    campaign = campaign_factory(tweets=3)
    campaign_factory()

    for tweet in campaign.tweets.all():
        response = admin_client.get(CAMPAIGNS_URL, {"q": tweet.tweet_id})
        assert [c.pk for c in response.context["cl"].result_list] == [campaign.pk]


def test_campaign_list_queries_do_not_grow_with_campaigns(
    admin_client, user_factory, campaign_factory, reward_factory
):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(CAMPAIGNS_URL).status_code == 200
        return len(queries)

    reward_factory(user_factory(), verified=True)
    baseline = count_queries()
    for _ in range(5):
        reward_factory(
            user_factory(), campaign_factory(max_participants=3), verified=True
        )

    assert count_queries() == baseline


@pytest.mark.parametrize("status", ["active", "scheduled", "ended", "full", "inactive"])
def test_status_filter_lists_campaigns_in_that_state(
    admin_client, campaigns_in_every_state, status
):
    response = admin_client.get(CAMPAIGNS_URL, {"status": status})

    listed = {campaign.pk for campaign in response.context["cl"].result_list}
    assert listed == {campaigns_in_every_state[status.title()].pk}


def test_the_listed_status_is_the_one_the_share_flow_sees(campaigns_in_every_state):
    """The list's status (SQL) and the share flow's (Python) are one rule."""
    now = timezone.now()
    listed = ShareCampaign.objects.with_status()
    assert {campaign.campaign_status for campaign in listed} == set(
        CampaignStatus.values
    )
    for campaign in listed:
        status = campaign.status_at(now, places=campaign.places)
        assert status == campaign.campaign_status
        assert is_campaign_full(campaign) == (status == CampaignStatus.FULL)
        open_window = status in (CampaignStatus.ACTIVE, CampaignStatus.FULL)
        assert campaign.is_open_at(now) == open_window


def test_active_filter_and_search(admin_client, campaigns_in_every_state):
    inactive = campaigns_in_every_state["Inactive"]

    by_flag = admin_client.get(CAMPAIGNS_URL, {"is_active__exact": "0"})
    by_title = admin_client.get(CAMPAIGNS_URL, {"q": inactive.post.title})
    by_tweet = admin_client.get(CAMPAIGNS_URL, {"q": inactive.first_tweet.tweet_id})

    for response in (by_flag, by_title, by_tweet):
        assert [c.pk for c in response.context["cl"].result_list] == [inactive.pk]


def test_campaign_change_page_shows_statistics(
    admin_client, user_factory, campaign_factory, reward_factory
):
    campaign = campaign_factory()
    for status in (
        Status.PENDING,
        Status.VERIFIED,
        Status.VERIFIED,
        Status.REWARDED,
        Status.REWARDED,
        Status.REWARDED,
        Status.FAILED,
    ):
        reward_factory(
            user_factory(), campaign, status=status, bux_rewarded=Decimal("150")
        )

    response = admin_client.get(f"{CAMPAIGNS_URL}{campaign.pk}/change/")

    content = response.content.decode()
    assert response.status_code == 200
    table = content[content.index('class="campaign-statistics"') :]
    table = table[: table.index("</table>")]
    rewards_url = f"{REWARDS_URL}?campaign__id__exact={campaign.pk}"
    for label, count, query in [
        ("Total", 7, ""),
        ("Pending", 1, "&amp;status__exact=pending"),
        ("Verified", 2, "&amp;status__exact=verified"),
        ("Rewarded", 3, "&amp;status__exact=rewarded"),
        ("Failed", 1, "&amp;status__exact=failed"),
    ]:
        link = f'<a href="{rewards_url.replace("&", "&amp;")}{query}">{label}</a>'
        assert f"{link}</th><td>{count}</td>" in table
    assert '<th scope="row">BUX minted</th><td>450</td>' in table


def test_campaign_counters_are_read_only(admin_client, running_campaign):
    response = admin_client.get(f"{CAMPAIGNS_URL}{running_campaign.pk}/change/")

    form = response.context["adminform"].form
    assert "total_shares" not in form.fields
    assert "tweet_id" not in form.fields
    assert "post" not in form.fields
    assert '<div class="readonly">7</div>' in response.content.decode()


def test_campaign_change_page_saves_without_touching_counters(
    admin_client, running_campaign
):
    response = admin_client.post(
        f"{CAMPAIGNS_URL}{running_campaign.pk}/change/",
        {
            "tweet_urls": tweet_urls(running_campaign),
            "bux_reward": "99",
            "is_active": "on",
            "total_shares": "0",
            **_window(running_campaign),
            "max_participants": "40",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    running_campaign.refresh_from_db()
    assert (running_campaign.bux_reward, running_campaign.total_shares) == (
        Decimal("99"),
        7,
    )


def test_toggle_active_action(admin_client, campaign_factory):
    on = campaign_factory()
    off = campaign_factory(is_active=False)
    untouched = campaign_factory()

    response = admin_client.post(
        CAMPAIGNS_URL,
        {"action": "toggle_active", "_selected_action": [on.pk, off.pk], "index": 0},
        follow=True,
    )

    assert ShareCampaign.objects.get(pk=on.pk).is_active is False
    assert ShareCampaign.objects.get(pk=off.pk).is_active is True
    assert ShareCampaign.objects.get(pk=untouched.pk).is_active is True
    assert "Activated 1 campaign, deactivated 1 campaign." in (
        response.content.decode()
    )


# --- One active campaign per tweet ---------------------------------------------------


def campaign_form(post: Post, tweet_urls: str, **fields: str | None) -> dict[str, str]:
    """The campaign admin's add form as a browser submits it (active by default)."""
    data: dict[str, str | None] = {
        "post": str(post.pk),
        "tweet_urls": tweet_urls,
        "bux_reward": "5",
        "is_active": "on",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "max_participants": "",
        **fields,
    }
    return {name: value for name, value in data.items() if value is not None}


def tweet_in_use(campaign: ShareCampaign) -> str:
    return (
        f"This tweet is already in the active campaign for “{campaign.post.title}” "
        f"(campaign {campaign.pk}). A tweet can be in one active campaign at a time: "
        "deactivate that campaign first, or save this one as inactive."
    )


def test_the_campaign_form_names_the_active_campaign_that_has_the_tweet(
    admin_client, post_factory, campaign_factory
):
    running = campaign_factory(tweet_url=TWEET)
    post = post_factory()

    response = admin_client.post(f"{CAMPAIGNS_URL}add/", campaign_form(post, TWEET))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"tweet_urls": [tweet_in_use(running)]}
    assert not ShareCampaign.objects.filter(post=post).exists()


def test_the_same_tweet_written_another_way_is_the_same_tweet(
    admin_client, post_factory, campaign_factory
):
    running = campaign_factory(tweet_url=TWEET)
    post = post_factory()
    same = "https://twitter.com/someone_else/status/1790000000000000001?s=20"

    response = admin_client.post(f"{CAMPAIGNS_URL}add/", campaign_form(post, same))

    assert response.context["adminform"].form.errors == {
        "tweet_urls": [tweet_in_use(running)]
    }


def test_a_tweet_can_wait_in_an_inactive_campaign(
    admin_client, post_factory, campaign_factory
):
    campaign_factory(tweet_url=TWEET)
    post = post_factory()

    response = admin_client.post(
        f"{CAMPAIGNS_URL}add/", campaign_form(post, TWEET, is_active=None)
    )

    assert response.status_code == 302
    assert ShareCampaign.objects.get(post=post).is_active is False


def test_the_post_form_names_the_active_campaign_that_has_the_tweet(
    admin_client, owner, post_factory, campaign_factory
):
    running = campaign_factory(tweet_url=TWEET)
    post = post_factory()

    response = admin_client.post(
        f"/admin/posts/post/{post.pk}/change/",
        post_form(post, owner, tweet_urls=TWEET),
    )

    assert response.status_code == 200
    assert form_errors(response) == [tweet_in_use(running)]
    assert not ShareCampaign.objects.filter(post=post).exists()


def test_reactivating_a_campaign_whose_tweet_is_in_use_is_a_form_error(
    admin_client, owner, campaign_factory
):
    old = campaign_factory(tweet_url=TWEET, is_active=False)
    running = campaign_factory(tweet_url=TWEET)

    response = admin_client.post(
        f"/admin/posts/post/{old.post.pk}/change/",
        post_form(old.post, owner, campaign=old, is_active="on"),
    )

    assert response.status_code == 200
    assert form_errors(response) == [tweet_in_use(running)]
    assert ShareCampaign.objects.get(pk=old.pk).is_active is False


def test_toggle_active_refuses_to_activate_a_second_campaign_for_a_tweet(
    admin_client, campaign_factory, messages_of
):
    running = campaign_factory(tweet_url=TWEET)
    waiting = campaign_factory(tweet_url=TWEET, is_active=False)
    other = campaign_factory(is_active=False)

    response = admin_client.post(
        CAMPAIGNS_URL,
        {
            "action": "toggle_active",
            "_selected_action": [waiting.pk, other.pk],
            "index": 0,
        },
        follow=True,
    )

    assert response.status_code == 200
    assert ShareCampaign.objects.get(pk=waiting.pk).is_active is False
    assert ShareCampaign.objects.get(pk=other.pk).is_active is True
    assert messages_of(response) == [
        "Activated 1 campaign, deactivated 0 campaigns.",
        f"Not activated “{waiting.post.title}”: {tweet_in_use(running)}",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_campaign_that_takes_the_tweet_during_the_save_is_named(
    admin_client, post_factory
):
    """The form finds the tweet free, then another writer (a second admin, a
    script) inserts an active campaign for it before our save: the database refuses
    our save, and the admin shows the form again with the winner named."""
    post, rival_post = post_factory(), post_factory()
    real_check = campaign_forms.active_campaign_for_tweet
    rivals: list[ShareCampaign] = []

    def rival_wins_the_race() -> None:
        try:
            rivals.append(create_share_campaign(rival_post, tweet_url=TWEET))
        finally:
            connections.close_all()

    def check_then_lose_the_race(tweet_id, *, other_than):
        found = real_check(tweet_id, other_than=other_than)
        if not rivals:
            rival = threading.Thread(target=rival_wins_the_race)
            rival.start()
            rival.join()
        return found

    with mock.patch.object(
        campaign_forms,
        "active_campaign_for_tweet",
        autospec=True,
        side_effect=check_then_lose_the_race,
    ):
        response = admin_client.post(f"{CAMPAIGNS_URL}add/", campaign_form(post, TWEET))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "tweet_urls": [tweet_in_use(rivals[0])]
    }
    assert list(ShareCampaign.objects.values_list("post", flat=True)) == [rival_post.pk]


@pytest.mark.django_db(transaction=True)
def test_a_tweet_a_reader_shares_while_it_is_taken_out_stays(
    admin_client, owner, campaign_factory, reward_factory, user_factory
):
    """The form finds the tweet unshared, then a reader shares it before the save:
    the save refuses to take it out, and the admin shows the form with the reason."""
    campaign = campaign_factory(tweets=2)
    first, second = campaign.tweets.all()
    real_check = campaign_forms.shared_tweets_error
    shares: list[ShareReward] = []

    def a_reader_shares() -> None:
        try:
            shares.append(
                reward_factory(user_factory(), campaign, campaign_tweet=second)
            )
        finally:
            connections.close_all()

    def check_then_a_reader_shares(tweets):
        found = real_check(tweets)
        if not shares:
            reader = threading.Thread(target=a_reader_shares)
            reader.start()
            reader.join()
        return found

    with mock.patch.object(
        campaign_forms,
        "shared_tweets_error",
        autospec=True,
        side_effect=check_then_a_reader_shares,
    ):
        response = admin_client.post(
            f"/admin/posts/post/{campaign.post.pk}/change/",
            post_form(
                campaign.post, owner, campaign=campaign, tweet_urls=first.tweet_url
            ),
        )

    assert response.status_code == 200
    assert form_errors(response) == [
        f"The post {second.tweet_url} was shared by 1 reader: it stays in the "
        "campaign. To stop its shares, deactivate the campaign instead."
    ]
    assert campaign.tweets.count() == 2


def test_campaign_list_counts_a_reader_of_several_tweets_as_one_place(
    admin_client, user_factory, campaign_factory, reward_factory
):
    campaign = campaign_factory(tweets=2, max_participants=5)
    reader = user_factory()
    for tweet in campaign.tweets.all():
        reward_factory(reader, campaign, campaign_tweet=tweet, rewarded=True)
    ShareCampaign.objects.filter(pk=campaign.pk).update(total_shares=2)

    row = _row(admin_client.get(CAMPAIGNS_URL).content.decode(), campaign.post.title)

    assert '<td class="field-places">1 / 5</td>' in row
    assert '<td class="field-shares">2</td>' in row
