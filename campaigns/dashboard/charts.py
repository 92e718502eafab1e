"""The dashboard's charts as SVG geometry, computed here and drawn by templates
(campaigns/templates/admin/campaigns/dashboard/): no script, no inline style, so
the strict Content-Security-Policy holds; colours come from classes in
static/css/dashboard.css. Each chart also has its figures as a table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
# Labels under the x axis: this many at most, evenly spaced.
X_LABELS = 6


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Rect] = field(default_factory=list)
    line: str = ""  # polyline points
    limit_y: float | None = None
    limit_label: str = ""
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return WIDTH - RIGHT

    @property
    def plot_bottom(self) -> int:
        return HEIGHT - BOTTOM

    @property
    def plot_top(self) -> int:
        return TOP


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    css: str


def _y(value: float, top: float) -> float:
    return TOP + PLOT_H - (value / top * PLOT_H if top else 0)


def _tick_label(value: float, top: float) -> str:
    return f"{value:,.0f}" if top >= 10 else f"{value:.3g}"


def _y_ticks(top: float) -> list[Tick]:
    return [
        Tick(round(_y(top * f, top), 1), _tick_label(top * f, top)) for f in (0, 0.5, 1)
    ]


def _x_ticks(labels: Sequence[str], slot: float) -> list[Tick]:
    if not labels:
        return []
    step = max(1, -(-len(labels) // X_LABELS))
    return [
        Tick(round(LEFT + (n + 0.5) * slot, 1), labels[n])
        for n in range(0, len(labels), step)
    ]


def stacked_bars(
    labels: Sequence[str],
    stacks: Sequence[Mapping[str, float]],
    series: Sequence[Series],
) -> Chart:
    """One bar per label, its segments stacked in the order of `series`."""
    top = max((sum(stack.values()) for stack in stacks), default=0) or 1
    slot = PLOT_W / max(len(labels), 1)
    chart = Chart(y_ticks=_y_ticks(top), x_ticks=_x_ticks(labels, slot))
    for n, (label, stack) in enumerate(zip(labels, stacks, strict=True)):
        base = 0.0
        for one in series:
            value = stack.get(one.key, 0)
            if not value:
                continue
            y = _y(base + value, top)
            chart.bars.append(
                Rect(
                    round(LEFT + n * slot + slot * 0.1, 2),
                    round(y, 2),
                    round(max(slot * 0.8, 0.5), 2),
                    round(_y(base, top) - y, 2),
                    one.css,
                    f"{label}: {value:,.0f} {one.label.lower()}",
                )
            )
            base += value
    return chart


def bars(
    labels: Sequence[str], values: Sequence[float], *, css: str, unit: str
) -> Chart:
    return stacked_bars(
        labels,
        [{"value": value} for value in values],
        [Series("value", unit, css)],
    )


def cumulative_line(
    labels: Sequence[str], totals: Sequence[Decimal], *, limit: Decimal | None
) -> Chart:
    """A running total, with the limit drawn across when there is one."""
    top = float(max([*totals, limit or Decimal("0")], default=0)) or 1.0
    slot = PLOT_W / max(len(labels), 1)
    chart = Chart(y_ticks=_y_ticks(top), x_ticks=_x_ticks(labels, slot))
    chart.line = " ".join(
        f"{LEFT + (n + 0.5) * slot:.1f},{_y(float(total), top):.1f}"
        for n, total in enumerate(totals)
    )
    if limit is not None:
        chart.limit_y = round(_y(float(limit), top), 1)
        chart.limit_label = f"budget {limit:,.0f}"
    return chart


# The funnel's bars start after their labels and leave room for their figures.
FUNNEL_LEFT, FUNNEL_WIDTH = 180, 420


@dataclass(frozen=True)
class FunnelStep:
    label: str
    value: int
    width: float
    y: float
    share: str  # of the first step

    @property
    def value_x(self) -> float:
        return FUNNEL_LEFT + self.width + 6


def funnel(steps: Sequence[tuple[str, int]]) -> list[FunnelStep]:
    first = steps[0][1] if steps else 0
    widest = max((value for _, value in steps), default=0) or 1
    rows = []
    for n, (label, value) in enumerate(steps):
        share = f"{value / first:.0%}" if first else "–"
        rows.append(
            FunnelStep(
                label, value, round(value / widest * FUNNEL_WIDTH, 1), 8 + n * 40, share
            )
        )
    return rows
