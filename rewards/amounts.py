"""BUX amounts: the multiplier a reader's X score gives, and how an amount is
written wherever it is shown."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from social.score import MAX_SCORE

# The multiplier of a reader whose X score is not known (never calculated, or X
# could not be read): the campaign's base reward.
DEFAULT_X_MULTIPLIER = 1


def x_multiplier(x_score: int | None) -> int:
    """The reward multiplier of an X score (1-100)."""
    return x_score or DEFAULT_X_MULTIPLIER


def reward_for(base: Decimal, multiplier: int) -> Decimal:
    """A share's BUX: round(multiplier × base reward), halves rounded up."""
    return (Decimal(multiplier) * base).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def best_reward(base: Decimal) -> Decimal:
    """The most one share can pay: the base reward at the best X score."""
    return reward_for(base, x_multiplier(MAX_SCORE))


def format_bux(amount: Decimal | None) -> str:
    """`1,234` for whole BUX, `7.50` otherwise; a dash when there is no amount."""
    if amount is None:
        return "—"
    if amount == amount.to_integral_value():
        return f"{amount:,.0f}"
    return f"{amount:,.2f}"
