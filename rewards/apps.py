from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self) -> None:
        from django.core import checks

        from . import receivers  # noqa: F401  (connects the X connection receivers)
        from .checks import check_mint_lease

        checks.register(check_mint_lease)
