"""What X costs us: prices (`prices`, editable in admin), spend recorded per hour,
campaign and purpose with one UPSERT per request (`record`), and sharing paused
site-wide when X's credits run out or the day's spend passes its limit (`pause`).

The X client calls `record_x_request` for every answer it gets; the share flow
names the campaign a request is for with `spending_for`.
"""

from .pause import (
    SHARING_PAUSED_MESSAGE,
    current_sharing_pause,
    pause_sharing,
    resume_sharing,
)
from .prices import DEFAULT_PRICES, PriceKind, forget_prices
from .record import Purpose, record_x_request, spending_for

__all__ = [
    "DEFAULT_PRICES",
    "SHARING_PAUSED_MESSAGE",
    "PriceKind",
    "Purpose",
    "current_sharing_pause",
    "forget_prices",
    "pause_sharing",
    "record_x_request",
    "resume_sharing",
    "spending_for",
]
