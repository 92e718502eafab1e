from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from .crypto import parse_keys


@register()
def check_token_encryption_keys(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    try:
        parse_keys(settings.TOKEN_ENCRYPTION_KEYS)
    except ImproperlyConfigured as error:
        return [Error(str(error), id="social.E001")]
    return []
