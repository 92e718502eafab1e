"""Start-up configuration of the sandbox server and the constants X defines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PLANS = ("enterprise", "self-serve")
RATE_PROFILES = ("pay-per-use", "pro", "basic", "free")

# Every OAuth 2.0 scope X knows, with the words X's consent screen uses for it.
SCOPE_WORDS: dict[str, str] = {
    "tweet.read": "Read all the posts you can view, including those from protected "
    "accounts.",
    "tweet.write": "Post and repost for you.",
    "tweet.moderate.write": "Hide and unhide replies to your posts.",
    "users.email": "See the email address of your account.",
    "users.read": "See any account you can view, including protected accounts.",
    "follows.read": "See who you follow and who follows you.",
    "follows.write": "Follow and unfollow accounts for you.",
    "offline.access": "Stay connected to your account until you revoke access.",
    "space.read": "See all the Spaces you can view.",
    "mute.read": "See the accounts you have muted.",
    "mute.write": "Mute and unmute accounts for you.",
    "like.read": "See the posts you have liked and the likes you can view.",
    "like.write": "Like and unlike posts for you.",
    "list.read": "See the lists you can view, their members and followers.",
    "list.write": "Create and manage lists for you.",
    "block.read": "See the accounts you have blocked.",
    "block.write": "Block and unblock accounts for you.",
    "bookmark.read": "See your bookmarked posts.",
    "bookmark.write": "Bookmark and remove bookmarks from posts.",
    "media.write": "Upload media for you.",
    "dm.read": "See all your direct messages.",
    "dm.write": "Send and manage direct messages for you.",
}


@dataclass(frozen=True)
class SandboxConfig:
    """What the server starts with; `reset` returns the runtime settings to these.

    The app registration and the minter secret have no defaults: the sandbox accepts
    whatever its launcher registers (docs/sandbox.md, "Credentials").
    """

    client_id: str
    client_secret: str
    callback_urls: tuple[str, ...]
    minter_secret: str
    # The app-only Bearer token X issues to the app (developer portal): reads such
    # as GET /2/tweets/:id accept it. Empty: no app token is accepted.
    app_bearer_token: str = ""
    # The real minter has no idempotency: every accepted /mint mints.
    minter_ignores_idempotency_key: bool = False
    app_name: str = "Blockster"
    public_url: str = "http://127.0.0.1:8010"
    state_file: Path | None = None
    access_token_ttl: int = 7200
    code_ttl: float = 30.0
    plan: str = "enterprise"
    rate_profile: str = "pay-per-use"
    # Seconds between a change and the write of the state file.
    save_delay: float = 0.5
    log_requests: bool = True
