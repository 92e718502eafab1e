from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Members"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from blockster.session_lifetime import start_lifetime

        user_logged_in.connect(start_lifetime, dispatch_uid="session-lifetime-start")
