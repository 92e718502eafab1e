"""Which shares are confirmed on X before their BUX are minted: the site's
X_VERIFY_SHARES, or a campaign's own choice (`ShareCampaign.verify_shares`).

`all` confirms every share, `off` none (paid on X's answer alone, as before the
confirmation stage existed), `sample:<percent>` that share of them, picked at random
when X accepts the retweet.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError

if TYPE_CHECKING:
    from .models import ShareCampaign

_SAMPLE = re.compile(r"^sample:(\d{1,3})$")
POLICY_HELP = "all, off, or sample:<percent> (sample:25 confirms one share in four)"


@dataclass(frozen=True)
class VerifyPolicy:
    percent: int  # of shares confirmed: 100 for all, 0 for off

    def picks_share(self) -> bool:
        """Whether this share is confirmed; a sample is drawn with the system's
        randomness, so readers cannot predict which shares are checked."""
        return self.percent >= 100 or (
            self.percent > 0 and secrets.randbelow(100) < self.percent
        )


def parse_verify_policy(text: str) -> VerifyPolicy:
    """`all`, `off` or `sample:<0-100>`; ValueError for anything else."""
    value = text.strip().lower()
    if value == "all":
        return VerifyPolicy(100)
    if value == "off":
        return VerifyPolicy(0)
    match = _SAMPLE.match(value)
    if match and int(match[1]) <= 100:
        return VerifyPolicy(int(match[1]))
    raise ValueError(f"{text!r} is not {POLICY_HELP}")


def validate_verify_policy(value: str) -> None:
    """A campaign's override: empty (the site's setting) or a policy."""
    if not value:
        return
    try:
        parse_verify_policy(value)
    except ValueError:
        raise ValidationError(
            "Enter %(help)s, or leave empty for the site's setting.",
            code="invalid_verify_policy",
            params={"help": POLICY_HELP},
        ) from None


def campaign_policy(campaign: ShareCampaign) -> VerifyPolicy:
    """The campaign's own choice, or the site's X_VERIFY_SHARES."""
    return parse_verify_policy(campaign.verify_shares or settings.X_VERIFY_SHARES)
