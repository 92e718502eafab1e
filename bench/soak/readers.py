"""The soak's readers: site users who connect X over OAuth and press Retweet & Like
as the htmx box does, for each tweet of campaigns with far fewer places than
readers; some campaigns hold a thread of two or three tweets."""

from __future__ import annotations

import html
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx

from bench.common import campaign_on_new_tweets
from bench.soak.figures import Figures, shape
from sandbox.testing import Sandbox

if TYPE_CHECKING:
    from accounts.models import User

DOUBLE_CLICK = 0.15
# Readers who take their retweet back on X: right after X accepted it (before the
# confirmation can see it, mostly), and right after their BUX were minted.
UNDO_BEFORE_CONFIRMATION = 0.12
UNDO_AFTER_PAYOUT = 0.12
# Every other campaign holds a thread of two or three tweets rather than one: a
# reader who takes a place in it shares its other tweets even once it is full.
THREAD_LENGTHS = (2, 3)
BOX_POLLS = 8
# The box states that change by themselves (htmx keeps polling them).
MOVING = (
    'data-state="confirming"',
    'data-state="minting"',
    'data-state="minter-retrying"',
)
# Each tweet's item in a multi-tweet box: its id names the CampaignTweet.
TWEET_ITEM = 'id="campaign-tweet-'
CSRF_HEADER = re.compile(r'"X-CSRFToken":\s*"([^"]+)"')
# A refusal is told by an error message; a success by the reward's own state line.
MESSAGE = re.compile(r'<p class="(message \w+|box-state done)"[^>]*>(.*?)</p>', re.S)
TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Tweet:
    pk: int  # the CampaignTweet, the share form's `tweet`
    tweet_id: str  # X's id


@dataclass
class Campaign:
    id: int
    slug: str
    tweets: list[Tweet]
    places: int


class CampaignPool:
    """The campaigns readers choose from; a full one is replaced by a new one while
    the load runs, so long runs keep sharing rather than only being refused."""

    def __init__(
        self, sandbox: Sandbox, places: int, open_target: int, rng: random.Random
    ) -> None:
        self.sandbox, self.places, self.open_target = sandbox, places, open_target
        self.rng = rng
        self.lock = threading.Lock()
        self.all: list[Campaign] = []
        self.full: set[int] = set()
        self.author: User | None = None

    def create(self) -> Campaign:
        from accounts.models import User

        if self.author is None:
            self.author = User.objects.create_user("editor@soak.test", is_staff=True)
        with self.lock:
            threaded = len(self.all) % 2 == 1
        count = self.rng.choice(THREAD_LENGTHS) if threaded else 1
        campaign = campaign_on_new_tweets(
            self.sandbox,
            self.author,
            f"Soak post {len(self.all) + 1}",
            count=count,
            bux_reward=Decimal("10"),
            max_participants=self.places,
        )
        tweets = [Tweet(t.pk, t.tweet_id) for t in campaign.tweets.all()]
        made = Campaign(campaign.pk, campaign.post.slug, tweets, self.places)
        with self.lock:
            self.all.append(made)
        return made

    def replenish(self) -> int:
        """Mark full campaigns and open new ones up to the target; returns how many
        were opened."""
        from campaigns.models import ShareCampaign
        from campaigns.services import is_campaign_full

        with self.lock:
            candidates = [c for c in self.all if c.id not in self.full]
        for campaign in candidates:
            if is_campaign_full(ShareCampaign.objects.get(pk=campaign.id)):
                with self.lock:
                    self.full.add(campaign.id)
        opened = 0
        while len(self.all) - len(self.full) < self.open_target:
            self.create()
            opened += 1
        return opened

    def pick(self, reader: Reader, rng: random.Random) -> Campaign:
        """A campaign with a tweet the reader has not shared yet: an open one, or a
        full one where the reader holds a place; else any (and be refused)."""
        with self.lock:
            fresh = [
                c
                for c in self.all
                if (c.id not in self.full or c.id in reader.places)
                and any((c.id, t.pk) not in reader.done for t in c.tweets)
            ]
            return rng.choice(fresh or self.all)


@dataclass
class Reader:
    number: int
    account_key: str
    client: httpx.Client
    user_id: int = 0
    csrf: str = ""
    # (campaign, tweet) pairs shared (or on their way), and the campaigns where
    # the reader holds a place.
    done: set[tuple[int, int]] = field(default_factory=set)
    places: set[int] = field(default_factory=set)


def create_readers(
    count: int, sandbox: Sandbox, app_url: str, rng: random.Random
) -> list[Reader]:
    """Site users with wallets, logged in through Django's session machinery (the
    password login is left out: a million PBKDF2 rounds per reader cost more CPU
    than the whole load), each with a fresh sandbox X account to connect."""
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from accounts.validators import normalize_wallet_address

    readers = []
    for number in range(1, count + 1):
        wallet = normalize_wallet_address("0x" + rng.randbytes(20).hex())
        user = User.objects.create_user(
            f"reader{number}@soak.test", wallet_address=wallet
        )
        key = f"soak{number}"
        sandbox.create_account(
            key,
            username=f"soak_reader_{number}",
            followers_count=rng.randint(0, 20000),
            following_count=rng.randint(1, 2000),
            tweet_count=rng.randint(0, 5000),
            listed_count=rng.randint(0, 40),
        )
        login = Client()
        login.force_login(user)
        client = httpx.Client(base_url=app_url, timeout=30)
        session = login.cookies[settings.SESSION_COOKIE_NAME].value
        client.cookies.set(settings.SESSION_COOKIE_NAME, session)
        readers.append(Reader(number, key, client, user_id=user.pk))
    return readers


def connect_x(reader: Reader, sandbox_url: str) -> None:
    """The real connect flow over HTTP: the app's authorize redirect, the sandbox's
    consent page, the app's callback (code exchange, profile, score queued)."""
    consent = Sandbox(sandbox_url)
    try:
        start = reader.client.get("/auth/x/authorize", params={"redirect_to": "/"})
        if start.status_code != 302:
            raise RuntimeError(f"authorize answered {start.status_code}")
        location = consent.authorize(
            start.headers["location"], account=reader.account_key
        )
        callback = reader.client.get(location)
        if callback.status_code != 302:
            raise RuntimeError(f"callback answered {callback.status_code}")
    finally:
        consent.close()


def _outcome(response: httpx.Response, tweet: Tweet) -> tuple[bool, str]:
    """What the box answered the press: a refusal of the whole campaign above its
    tweets (or of a one-tweet campaign's share), else the pressed tweet's state."""
    head, _, _ = response.text.partition(TWEET_ITEM)
    match = MESSAGE.search(head) or MESSAGE.search(_tweet_part(response.text, tweet))
    if match is None:
        return False, f"HTTP {response.status_code} without a message"
    message = html.unescape(" ".join(TAG.sub("", match[2]).split()))
    return "error" not in match[1], shape(message)


def _get(reader: Reader, kind: str, path: str, figures: Figures) -> httpx.Response:
    started = time.monotonic()
    response = reader.client.get(path)
    figures.request(kind, response.status_code, time.monotonic() - started)
    return response


def _share(
    reader: Reader, campaign: Campaign, tweet: Tweet, figures: Figures, done: set[str]
) -> bool:
    started = time.monotonic()
    try:
        response = reader.client.post(
            f"/campaigns/{campaign.id}/share",
            data={"tweet": str(tweet.pk)},
            headers={"X-CSRFToken": reader.csrf, "HX-Request": "true"},
        )
    except httpx.HTTPError as error:
        figures.count("errors", f"share POST: {type(error).__name__}")
        return False
    figures.request("share POST", response.status_code, time.monotonic() - started)
    if response.status_code >= 500:
        figures.count("errors", f"share POST: HTTP {response.status_code}")
        return False
    ok, label = _outcome(response, tweet)
    figures.count("outcomes", label)
    if ok or label in done:
        reader.done.add((campaign.id, tweet.pk))
        reader.places.add(campaign.id)
    return ok


def reader_loop(
    reader: Reader,
    pool: CampaignPool,
    figures: Figures,
    stop: threading.Event,
    rng: random.Random,
    *,
    pause: tuple[float, float],
    done: set[str],
) -> None:
    # Readers arrive over the first seconds rather than all at once.
    stop.wait(rng.uniform(0, 3))
    while not stop.is_set():
        campaign = pool.pick(reader, rng)
        try:
            page = _get(reader, "page GET", f"/{campaign.slug}", figures)
        except httpx.HTTPError as error:
            figures.count("errors", f"page GET: {type(error).__name__}")
            stop.wait(1)
            continue
        if page.status_code >= 500:
            figures.count("errors", f"page GET: HTTP {page.status_code}")
        if match := CSRF_HEADER.search(page.text):
            reader.csrf = match[1]
        # The box lists the campaign's tweets; the reader shares them one by one.
        todo = [t for t in campaign.tweets if (campaign.id, t.pk) not in reader.done]
        for tweet in todo or [rng.choice(campaign.tweets)]:
            if stop.is_set():
                break
            _press(reader, campaign, tweet, pool.sandbox, figures, stop, rng, done)
            stop.wait(rng.uniform(*pause))


def _press(
    reader: Reader,
    campaign: Campaign,
    tweet: Tweet,
    sandbox: Sandbox,
    figures: Figures,
    stop: threading.Event,
    rng: random.Random,
    done: set[str],
) -> None:
    """Retweet & Like for one of the campaign's tweets, watched until it settles,
    and now and then taken back on X."""
    if rng.random() < DOUBLE_CLICK:
        # Two posts at once, as an impatient double click sends them.
        with ThreadPoolExecutor(2) as clicks:
            both = [
                clicks.submit(_share, reader, campaign, tweet, figures, done)
                for _ in "12"
            ]
            results = [click.result() for click in both]
        figures.count("notes", "double clicks")
    else:
        results = [_share(reader, campaign, tweet, figures, done)]
    if not any(results):
        return
    if len(campaign.tweets) > 1:
        figures.count("notes", "shares of a multi-tweet campaign's tweets")
    if rng.random() < UNDO_BEFORE_CONFIRMATION:
        _undo(reader, tweet, sandbox, figures, "before confirmation")
        # The reader may try again once told the retweet was not found.
        reader.done.discard((campaign.id, tweet.pk))
    if _watch_box(reader, campaign, tweet, figures, stop) and (
        rng.random() < UNDO_AFTER_PAYOUT
    ):
        _undo(reader, tweet, sandbox, figures, "after payout")


def _undo(
    reader: Reader, tweet: Tweet, sandbox: Sandbox, figures: Figures, when: str
) -> None:
    """The reader takes the retweet back in X's app."""
    try:
        undone = sandbox.undo_retweet(reader.account_key, tweet.tweet_id)
    except (httpx.HTTPError, AssertionError) as error:
        figures.count("errors", f"undo: {type(error).__name__}")
        return
    if undone:
        figures.count("undos", f"retweets taken back {when}")


def _tweet_part(box: str, tweet: Tweet) -> str:
    """The part of the box that tells this tweet's state: its item, up to the next
    one; the whole box when it lists no tweets (a one-tweet campaign's)."""
    start = box.find(f'{TWEET_ITEM}{tweet.pk}"')
    if start < 0:
        return box
    end = box.find(TWEET_ITEM, start + len(TWEET_ITEM))
    return box[start : end if end >= 0 else len(box)]


def _watch_box(
    reader: Reader,
    campaign: Campaign,
    tweet: Tweet,
    figures: Figures,
    stop: threading.Event,
) -> bool:
    """Poll the box while it says the tweet's share is confirming or minting, as
    htmx does every 3 s; True once it shows the BUX earned for it."""
    told_retry = False
    for _ in range(BOX_POLLS):
        if stop.wait(1.5):
            return False
        try:
            box = _get(reader, "box GET", f"/campaigns/{campaign.id}/box", figures)
        except httpx.HTTPError as error:
            figures.count("errors", f"box GET: {type(error).__name__}")
            return False
        if box.status_code >= 500:
            figures.count("errors", f"box GET: HTTP {box.status_code}")
        part = _tweet_part(box.text, tweet)
        if not told_retry and 'data-state="minter-retrying"' in part:
            figures.count("notes", "boxes seen telling the minter is retried")
            told_retry = True
        if not any(state in part for state in MOVING):
            if 'data-state="rewarded"' in part:
                figures.count("notes", "boxes seen turning to earned")
                return True
            if 'data-state="operator"' in part:
                figures.count("notes", "boxes seen telling of a delay")
            elif 'data-state="not-found"' in part:
                figures.count("notes", "boxes seen telling the retweet was not found")
            return False
    return False
