"""The sandbox's starting world: five reader personas and the publisher's account.

The personas span the quality-score range (ORIGINAL-NOTES.md formula): an empty new
account, a zero-follower account, an ordinary reader, an active creator and a large
influencer. Each timeline mixes originals, replies, a quote and a few retweets, whose
inflated copied metrics make a score that forgets to drop retweets visibly wrong.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.state import Account, Runtime, SandboxState, Tweet

FIRST_TWEET_ID = 1_865_000_000_000_000_000
# The persona the consent page checks at first: an ordinary reader (score 25), so a
# demo click-through earns a typical reward, not the newbie's minimum.
TYPICAL_ACCOUNT = "reader"

ACCOUNTS: tuple[Account, ...] = (
    Account(
        id="1861234567890123456",
        key="newbie",
        username="freshstart2026",
        name="Fresh Start",
        created_at="",  # two days before the state was created
        description="Just joined.",
    ),
    Account(
        id="1093475861234567168",
        key="zero",
        username="quiet_observer",
        name="Quiet Observer",
        created_at="2019-09-02T08:15:30.000Z",
        description="Mostly reading.",
        location="Lisbon",
        followers_count=0,
        following_count=35,
        tweet_count=60,
        like_count=412,
    ),
    Account(
        id="874365234987123712",
        key="reader",
        username="danareadscrypto",
        name="Dana Reader",
        created_at="2017-06-14T17:02:11.000Z",
        description="Reading about web3 on the train. Opinions my own.",
        location="Manchester, UK",
        followers_count=180,
        following_count=240,
        tweet_count=1450,
        listed_count=1,
        like_count=5230,
    ),
    Account(
        id="695289143220150272",
        key="creator",
        username="chainbuilder_mo",
        name="Mo | Chain Builder",
        created_at="2016-02-04T10:41:07.000Z",
        description="Building on-chain tools. Threads on DeFi, wallets and UX.",
        location="Berlin",
        followers_count=8400,
        following_count=1900,
        tweet_count=12800,
        listed_count=85,
        like_count=21950,
    ),
    Account(
        id="183749519",
        key="influencer",
        username="cryptoqueen",
        name="Crypto Queen",
        created_at="2010-08-27T14:22:45.000Z",
        description="Markets, memes and macro. Not financial advice.",
        location="Miami, FL",
        followers_count=1_250_000,
        following_count=310,
        tweet_count=48200,
        listed_count=6100,
        like_count=88400,
        verified=True,
    ),
    Account(
        id="1405555512345678848",
        key="blockster",
        username="BlocksterCom",
        name="Blockster",
        created_at="2021-06-17T12:00:00.000Z",
        description="Read, share and earn BUX.",
        followers_count=24600,
        following_count=180,
        tweet_count=3100,
        listed_count=240,
        like_count=950,
        verified=True,
        selectable=False,
    ),
)


# The publisher's posts, oldest first, as a reader sees them on X.
BLOCKSTER_TWEETS = (
    "What is BUX, and how do you earn it? Read a story, share it on X, and BUX land "
    "in your wallet. Start here: https://blockster.com/welcome-to-blockster",
    "Your X score runs from 1 to 100 and multiplies every reward you earn on "
    "Blockster. Here is how it is worked out: "
    "https://blockster.com/how-the-x-score-works",
    "Weekly market notes are out: on-chain activity, fees and the stories worth your "
    "time, with @chainbuilder_mo. https://blockster.com/weekly-market-notes #DeFi",
    # A campaign of three posts: the launch thread, the announcement and its
    # follow-up.
    "Blockster is on your phone from today. Read the stories you follow, share them "
    "on X and watch your BUX add up wherever you are. What is in the app, a thread "
    "(1/4)",
    "Announcing the Blockster app for iOS and Android: your reading list, your BUX "
    "balance and every Retweet & Like campaign, in your pocket. "
    "https://blockster.com/blockster-on-your-phone",
    "Thank you for a busy launch day: 12,000 readers installed the Blockster app in "
    "its first hours. Your questions, answered: "
    "https://blockster.com/blockster-on-your-phone#faq",
)

# Timelines, oldest first: (hours ago, text, likes, retweets, replies, quotes) for
# originals; a trailing "reply"/"quote" and the account replied to or quoted; and
# (hours ago, RETWEET, account whose latest original is retweeted) for retweets.
RETWEET = "RT"
TIMELINES: dict[str, tuple[tuple[Any, ...], ...]] = {
    # Nobody sees the zero-follower account's posts.
    "zero": (
        (900, "Trying this app out, let's see.", 0, 0, 0, 0),
        (610, "Is anyone else's wallet app slow today?", 0, 0, 0, 0),
        (300, "Read a good piece on layer 2 fees.", 0, 0, 0, 0),
        (200, RETWEET, "creator"),
        (70, "Weekend project: learning Solidity.", 0, 0, 0, 0),
    ),
    # The ordinary reader: a handful of likes per post.
    "reader": (
        (500, "Morning commute reading list sorted.", 4, 0, 1, 0),
        (420, "This explainer on rollups finally made it click.", 6, 1, 0, 0),
        (330, RETWEET, "creator"),
        (260, "Agree, self-custody UX is still rough.", 3, 0, 2, 0, "reply", "creator"),
        (190, "Coffee + whitepaper = Saturday.", 5, 0, 0, 0),
        (120, RETWEET, "influencer"),
        (96, "Anyone going to the Manchester meetup?", 2, 0, 3, 0),
        (40, "Worth reading twice.", 7, 1, 1, 1, "quote", "creator"),
        (8, "Bookmarking this for later.", 4, 0, 0, 0),
    ),
    # The active creator: threads that travel.
    "creator": (
        (700, "Thread: 10 wallet UX mistakes and how to fix them", 420, 96, 38, 12),
        (610, "Shipped: gas estimates that don't lie.", 210, 40, 22, 5),
        (540, RETWEET, "influencer"),
        (480, "Why account abstraction matters for normal people", 380, 88, 41, 9),
        (400, "Replying to all the DMs today, bear with me.", 95, 4, 30, 0),
        (330, "Exactly this.", 120, 18, 9, 3, "quote", "influencer"),
        (300, RETWEET, "influencer"),
        (260, "Open-sourced our signing library.", 510, 130, 44, 21),
        (200, "Good question, depends on the chain.", 60, 2, 11, 0, "reply", "reader"),
        (150, "Demo day recap with slides", 240, 51, 17, 4),
        (100, "Hot take: most bridges should not exist.", 330, 70, 120, 25),
        (60, RETWEET, "influencer"),
        (30, "New video: building a wallet in 30 minutes", 280, 64, 26, 8),
        (5, "Hiring a frontend engineer, DMs open.", 150, 45, 12, 2),
    ),
    # The large influencer: thousands per post.
    "influencer": (
        (720, "Markets don't care about your feelings.", 14200, 2100, 640, 180),
        (650, "GM to everyone except the bears.", 9800, 1100, 900, 60),
        (600, "Macro thread: what the rate cut means", 7600, 1800, 420, 240),
        (560, RETWEET, "creator"),
        (500, "This chart says it all.", 11200, 2600, 380, 310),
        (450, "Lol no.", 6400, 420, 1200, 90, "reply", "creator"),
        (400, "Weekly AMA in 1 hour, drop questions below", 5100, 600, 2100, 40),
        (350, "Read this before you ape in.", 8300, 1900, 310, 150, "quote", "creator"),
        (300, "New ATH incoming? Vote", 12900, 1500, 1700, 120),
        (240, RETWEET, "reader"),
        (200, "My top 5 reads this week", 7300, 1400, 260, 70),
        (150, "Reminder: never share your seed phrase.", 15400, 5200, 420, 330),
        (100, "Conference season, who's coming?", 4800, 300, 980, 20),
        (60, "Bullish on builders.", 9100, 1300, 540, 110),
        (24, "Big week ahead, buckle up.", 10600, 1700, 720, 160),
        (3, "Back from the beach, what did I miss?", 5800, 400, 1400, 30),
    ),
    # The publisher: posts that campaigns point at (the demo's, seed_demo's
    # DEMO_TWEETS, carry these texts: tests keep the two alike).
    "blockster": (
        (72, BLOCKSTER_TWEETS[0], 310, 95, 24, 8),
        (26, BLOCKSTER_TWEETS[1], 180, 62, 15, 4),
        (2, BLOCKSTER_TWEETS[2], 90, 30, 6, 2),
        # The newest posts of all, so the ids of the posts above stay as they were.
        (1.5, BLOCKSTER_TWEETS[3], 140, 48, 12, 3),
        (1, BLOCKSTER_TWEETS[4], 260, 91, 30, 7),
        (0.5, BLOCKSTER_TWEETS[5], 45, 12, 9, 1),
    ),
}


def new_state(config: SandboxConfig, *, now: datetime | None = None) -> SandboxState:
    moment = now or datetime.now(UTC)
    state = SandboxState(runtime=Runtime.from_config(config))
    state.last_id = FIRST_TWEET_ID
    for template in ACCOUNTS:
        account = replace(template)
        if not account.created_at:
            account.created_at = _iso(moment - timedelta(days=2))
        state.accounts[account.id] = account
    entries = [(key, entry) for key, rows in TIMELINES.items() for entry in rows]
    # Ids grow with time, as X's do: create the oldest first.
    for key, entry in sorted(entries, key=lambda item: -item[1][0]):
        tweet = _seed_tweet(state, key, entry, moment)
        state.tweets[tweet.id] = tweet
    return state


def _seed_tweet(
    state: SandboxState, key: str, entry: tuple[Any, ...], moment: datetime
) -> Tweet:
    author = state.account(key)
    assert author is not None
    created_at = _iso(moment - timedelta(hours=entry[0]))
    if entry[1] == RETWEET:
        original = _latest_original_by(state, entry[2])
        source = state.accounts[original.author_id]
        # X copies the original's text and repost count onto the retweet.
        return Tweet(
            id=state.next_id(),
            author_id=author.id,
            text=f"RT @{source.username}: {original.text}",
            created_at=created_at,
            retweet_count=original.retweet_count,
            referenced_tweets=[{"type": "retweeted", "id": original.id}],
        )
    _, text, likes, retweets, replies, quotes, *reference = entry
    tweet = Tweet(
        id=state.next_id(),
        author_id=author.id,
        text=text,
        created_at=created_at,
        like_count=likes,
        retweet_count=retweets,
        reply_count=replies,
        quote_count=quotes,
        bookmark_count=likes // 20,
        impression_count=(likes + retweets) * 40 + 12,
    )
    if reference:
        kind, of = reference
        ref_type = "replied_to" if kind == "reply" else "quoted"
        tweet.referenced_tweets = [
            {"type": ref_type, "id": _latest_original_by(state, of).id}
        ]
    return tweet


def _latest_original_by(state: SandboxState, author_key: str) -> Tweet:
    author = state.account(author_key)
    assert author is not None
    candidates = [
        t
        for t in state.tweets.values()
        if t.author_id == author.id and t.kind() == "original"
    ]
    return max(candidates, key=lambda t: int(t.id))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def iso_from_timestamp(timestamp: float) -> str:
    return _iso(datetime.fromtimestamp(timestamp, UTC))
