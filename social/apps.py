from django.apps import AppConfig


class SocialConfig(AppConfig):
    name = "social"
    verbose_name = "X connections"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
