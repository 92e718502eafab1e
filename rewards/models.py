from __future__ import annotations

from decimal import Decimal

from django.db import models


class CampaignStat(models.Model):
    """A campaign's rewards added up per hour, so its dashboard reads a few thousand
    rows however many rewards it has. Rebuilt for a recent window by
    rewards.services.stats (beat, and the dashboard when the rows are a minute old).

    `measure` says what a row counts:
    - `made`: rewards made in the hour (`hour`), now in status `key`;
    - `band`: rewards made in the hour whose multiplier (BUX over the base reward)
      is in X-score band `key` (1: 1-10 ... 10: 91-100);
    - `minted`: rewards minted in the hour (`key` empty).
    """

    class Measure(models.TextChoices):
        MADE = "made", "Made, by status"
        BAND = "band", "Made, by X-score band"
        MINTED = "minted", "Minted"

    campaign = models.ForeignKey(
        "campaigns.ShareCampaign", on_delete=models.CASCADE, related_name="+"
    )
    measure = models.CharField(max_length=8, choices=Measure.choices)
    hour = models.DateTimeField()
    key = models.CharField(max_length=12, blank=True)
    count = models.PositiveIntegerField(default=0)
    bux = models.DecimalField(max_digits=20, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "measure", "hour", "key"],
                name="rewards_one_stat_per_hour",
            )
        ]
        indexes = [models.Index(fields=["hour"], name="rewards_stat_hour_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.measure} {self.hour:%Y-%m-%d %H}h {self.key}"
