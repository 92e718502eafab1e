from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from social.x_api import XTweetCard

from .models import ShareCampaign
from .services.campaigns import (
    active_campaign_for_tweet,
    parse_tweet_url,
    tweet_in_use_error,
)
from .services.tweets import TWEET_CARD_FIELDS, apply_tweet_card, read_campaign_tweet

# A campaign's fields staff edit, besides its post.
EDITED_FIELDS = (
    "tweet_url",
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


class ShareCampaignForm(forms.ModelForm):
    """A campaign as staff edit it: the tweet is given by its URL, counters never."""

    tweet_url = forms.URLField(
        label="Tweet URL",
        max_length=300,
        assume_scheme="https",
        help_text="The post on X that readers retweet, for example "
        "https://x.com/BlocksterCom/status/1234567890. It is read from X when "
        "saved and must be public. A tweet can be in one active campaign at a time; "
        "readers who shared it from an earlier campaign do not earn again.",
    )
    # The tweet as X showed it, read when the form's tweet is new to the campaign.
    tweet_card: XTweetCard | None = None

    class Meta:
        model = ShareCampaign
        fields = ["post", *EDITED_FIELDS]

    def clean_tweet_url(self) -> str:
        url = self.cleaned_data["tweet_url"]
        self.tweet_id = parse_tweet_url(url)
        if self.instance.pk is None or self.tweet_id != self.instance.tweet_id:
            # The admin's view holds a transaction open here, but nothing is
            # written or locked yet: X's answer delays no other request.
            self.tweet_card = read_campaign_tweet(self.tweet_id)
        return url

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
        tweet_id = getattr(self, "tweet_id", None)
        if tweet_id and cleaned.get("is_active"):
            other = active_campaign_for_tweet(tweet_id, other_than=self.instance)
            if other is not None:
                self.add_error("tweet_url", tweet_in_use_error(other))
        return cleaned

    def save(self, commit: bool = True) -> ShareCampaign:
        campaign = super().save(commit=False)
        campaign.tweet_id = self.tweet_id
        if self.tweet_card is not None:
            apply_tweet_card(campaign, self.tweet_card)
        if commit:
            self.save_campaign(campaign)
        return campaign

    def save_campaign(self, campaign: ShareCampaign) -> None:
        if campaign._state.adding:
            campaign.save()
            return
        # Only the columns this form edits: total_shares moves by F() increments in
        # the share flow, and a full-row save would overwrite a share counted while
        # this form was being submitted.
        edited = [
            field.name
            for field in ShareCampaign._meta.concrete_fields
            if field.name in self.fields and not field.primary_key
        ]
        card = list(TWEET_CARD_FIELDS) if self.tweet_card is not None else []
        campaign.save(update_fields=[*edited, "tweet_id", *card, "updated_at"])
