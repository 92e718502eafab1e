from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction

from social.x_api import XTweetCard

from .models import CampaignTweet, ShareCampaign
from .services.campaigns import (
    active_campaign_for_tweet,
    create_share_campaign,
    new_campaign_tweets,
    parse_tweet_url,
    set_campaign_tweets,
    shared_tweets_error,
    tweet_in_use_error,
)
from .services.tweets import read_campaign_tweet

# A campaign's fields staff edit, besides its post and its tweets.
EDITED_FIELDS = (
    "bux_reward",
    "request_like",
    "is_active",
    "starts_at",
    "ends_at",
    "max_participants",
    "bux_budget",
    "close_when_spent",
    "verify_shares",
)
TWEET_URL_LENGTH = cast(int, CampaignTweet._meta.get_field("tweet_url").max_length)


class TweetURLsField(forms.Field):
    """Links to posts on X, one a line: cleaned into the list of lines, in order. A
    link typed without its scheme gets https://, as a URL field assumes it."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 80})

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        lines = (line.strip() for line in str(value or "").splitlines())
        return [_with_scheme(line) for line in lines if line]

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial or []) != self.to_python(data)


class ShareCampaignForm(forms.ModelForm):
    """A campaign as staff edit it: its tweets given by their URLs, counters never."""

    tweet_urls = TweetURLsField(
        label="Tweet URLs",
        error_messages={"required": "Add the link of at least one post on X."},
        help_text="The posts on X that readers retweet, one link a line, in the "
        "order the share box lists them, for example "
        "https://x.com/BlocksterCom/status/1234567890. A new post is read from X "
        "when saved and must be public; a post readers shared stays. A post can "
        "be in one active campaign at a time; readers who shared it from an "
        "earlier campaign do not earn again.",
    )

    class Meta:
        model = ShareCampaign
        fields = ["post", *EDITED_FIELDS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The tweets the campaign has, by tweet id; those the form lists, once
        # cleaned; and the new ones as X shows them, read while cleaning.
        self.current: dict[str, CampaignTweet] = {}
        self.tweet_ids: list[str] = []
        self.cards: dict[str, XTweetCard] = {}
        if self.instance.pk is not None:
            self.current = {t.tweet_id: t for t in self.instance.tweets.all()}
            self.initial.setdefault(
                "tweet_urls", [t.tweet_url for t in self.current.values()]
            )

    def clean_tweet_urls(self) -> list[str]:
        urls: list[str] = self.cleaned_data["tweet_urls"]
        self._check_each_url(urls)
        wanted = new_campaign_tweets(urls)
        wanted_ids = {tweet.tweet_id for tweet in wanted}
        left_out = [t for t in self.current.values() if t.tweet_id not in wanted_ids]
        if refused := shared_tweets_error(left_out):
            raise refused
        # Only new tweets are read. The admin's view holds a transaction open
        # here, but nothing is written or locked yet: X's answers delay no other
        # request.
        errors = []
        for tweet in wanted:
            if tweet.tweet_id in self.current:
                continue
            try:
                self.cards[tweet.tweet_id] = read_campaign_tweet(tweet.tweet_id)
            except ValidationError as error:
                errors.append(_naming(tweet.tweet_url, error))
        if errors:
            raise ValidationError(errors)
        self.tweet_ids = [tweet.tweet_id for tweet in wanted]
        return urls

    def _check_each_url(self, urls: list[str]) -> None:
        errors = []
        for url in urls:
            try:
                parse_tweet_url(url)
                if len(url) > TWEET_URL_LENGTH:
                    raise ValidationError(
                        "Shorten this link to at most %(limit)s characters (what "
                        "follows a “?” can go).",
                        code="tweet_url_too_long",
                        params={"limit": TWEET_URL_LENGTH},
                    )
            except ValidationError as error:
                errors.append(_naming(url, error))
        if errors:
            raise ValidationError(errors)

    def clean_max_participants(self) -> int | None:
        limit = self.cleaned_data.get("max_participants")
        if limit is not None and limit < 1:
            raise ValidationError(
                "Enter at least 1, or leave empty for no limit.", code="min_value"
            )
        return limit

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error(
                "ends_at",
                ValidationError("The end must be after the start.", code="ends_early"),
            )
        if cleaned.get("is_active"):
            named: set[int] = set()
            for tweet_id in self.tweet_ids:
                other = active_campaign_for_tweet(tweet_id, other_than=self.instance)
                if other is not None and other.pk not in named:
                    named.add(other.pk)
                    self.add_error("tweet_urls", tweet_in_use_error(other))
        return cleaned

    def save(self, commit: bool = True) -> ShareCampaign:
        campaign = super().save(commit=False)
        if commit:
            self.save_campaign(campaign)
        return campaign

    def save_campaign(self, campaign: ShareCampaign) -> None:
        urls = self.cleaned_data["tweet_urls"]
        if campaign._state.adding:
            created = create_share_campaign(
                campaign.post,
                tweet_urls=urls,
                cards=self.cards,
                **{name: getattr(campaign, name) for name in EDITED_FIELDS},
            )
            # The admin goes on with this instance (its change message, the
            # redirect to its page).
            campaign.pk = created.pk
            campaign.refresh_from_db()
            campaign._state.adding = False
            return
        # Only the columns this form edits: total_shares moves by F() increments in
        # the share flow, and a full-row save would overwrite a share counted while
        # this form was being submitted.
        edited = [
            field.name
            for field in ShareCampaign._meta.concrete_fields
            if field.name in self.fields and not field.primary_key
        ]
        with transaction.atomic():
            campaign.save(update_fields=[*edited, "updated_at"])
            set_campaign_tweets(campaign, urls, cards=self.cards)


def _with_scheme(line: str) -> str:
    # Whatever is not a link at all is left as typed, for the error to name it.
    if "://" in line or any(char.isspace() for char in line):
        return line
    return f"https://{line}"


def _naming(url: str, error: ValidationError) -> ValidationError:
    """The error about one of the listed links, saying which."""
    return ValidationError(
        "%(url)s: %(reason)s",
        code=error.code,
        params={"url": url, "reason": " ".join(error.messages)},
    )
