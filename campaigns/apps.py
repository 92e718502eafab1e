from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Share campaigns"

    def ready(self) -> None:
        from django.core import checks

        from .checks import check_verify_shares

        checks.register(check_verify_shares)
