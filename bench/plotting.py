"""The one place that calls matplotlib: line charts described by plain values, saved as PNG.

matplotlib's annotations carry `Any` (keyword arguments, artists' properties): this module
calls only what hands back typed values, and callers hand it only the small frozen classes
below, made of floats, strings and lists. It draws on a `Figure` with the Agg
canvas directly, without pyplot, so no display and no global figure state are involved.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, PercentFormatter
from matplotlib.typing import RcKeyType

WIDTH_IN = 9.0
"""At 100 dpi the images are 900 px wide, so text stays legible when shown at 800 px."""
PANEL_HEIGHT_IN = 4.2
DPI = 100
CAPTION_CHARS = 125
LabelPlace = Literal["above right", "below right", "below"]
LegendPlace = Literal[
    "best", "upper left", "upper right", "lower left", "lower right", "center right"
]
OFFSETS: dict[LabelPlace, tuple[tuple[float, float], str]] = {
    "above right": ((5, 6), "left"),
    "below right": ((6, -14), "left"),
    "below": ((0, -16), "center"),
}
"""Offset of a point label in points, and its horizontal alignment."""
STYLE: dict[RcKeyType, float] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "legend.fontsize": 9.5,
    "figure.titlesize": 14,
}


@dataclass(frozen=True)
class Line:
    """One series; `color` empty takes the next colour of the cycle."""

    label: str
    xs: list[float]
    ys: list[float]
    color: str = ""
    dashed: bool = False
    marker: str = "o"
    point_labels: list[str] = field(default_factory=list)
    """Written beside each point (for instance the model's shape)."""
    label_at: LabelPlace = "above right"
    """Where point labels go: where the line leaves room for them."""


@dataclass(frozen=True)
class Threshold:
    """A horizontal line across a panel, such as a target."""

    label: str
    y: float
    color: str = "tab:red"


@dataclass(frozen=True)
class Scale:
    """One axis: its label (with units), log or linear, and optionally the ticks to show."""

    label: str
    log: bool = False
    ticks: list[tuple[float, str]] = field(default_factory=list)
    """(value, label) pairs to show; without them a log axis gets plain round numbers rather
    than matplotlib's powers of ten."""
    percent: bool = False
    """Values are fractions, shown as percentages."""
    from_zero: bool = False
    top: float | None = None
    """The upper limit, to leave room for the legend above the lines."""


@dataclass(frozen=True)
class Panel:
    """One chart: its lines, the horizontal thresholds across it, and its axes."""

    title: str
    x: Scale
    y: Scale
    lines: list[Line]
    thresholds: list[Threshold] = field(default_factory=list)
    legend_at: LegendPlace = "best"


def save(path: Path, title: str, panels: list[Panel], caption: str = "") -> None:
    """Draw `panels` side by side under `title`, with `caption` in small type underneath."""
    with rc_context(STYLE):
        figure = Figure(figsize=(WIDTH_IN, PANEL_HEIGHT_IN), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)  # attaches itself: the figure renders with Agg, no display
        # What `figure.subplots(1, n)` does, without its array of axes (typed with `Any`).
        grid = figure.add_gridspec(1, len(panels))
        row = [figure.add_subplot(grid[0, column]) for column in range(len(panels))]
        for panel, axes in zip(panels, row, strict=True):
            _draw(axes, panel)
        figure.suptitle(title, fontweight="bold")
        if caption:
            # A figure-wide x label is the one bottom text constrained layout makes room for.
            text = textwrap.fill(caption, CAPTION_CHARS)
            figure.supxlabel(text, fontsize="small", color="dimgray")
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")


def _draw(axes: Axes, panel: Panel) -> None:
    for line in panel.lines:
        drawn = axes.plot(
            line.xs,
            line.ys,
            linestyle="--" if line.dashed else "-",
            marker=line.marker,
            label=line.label,
            color=line.color or None,  # None: the next colour of the cycle
        )[0]
        offset, align = OFFSETS[line.label_at]
        for x, y, text in zip(line.xs, line.ys, line.point_labels, strict=False):
            axes.annotate(
                text,
                (x, y),
                textcoords="offset points",
                xytext=offset,
                horizontalalignment=align,
                fontsize="small",
                color=drawn.get_color(),
            )
    for threshold in panel.thresholds:
        axes.axhline(threshold.y, color=threshold.color, linestyle=":", label=threshold.label)
    axes.margins(x=0.1, y=0.1)  # room for the point labels at the ends
    _scale(axes, panel.x, horizontal=True)
    if any(line.point_labels and line.label_at != "below" for line in panel.lines):
        _widen_right(axes, panel.x.log)
    _scale(axes, panel.y, horizontal=False)
    axes.set_title(panel.title)
    axes.grid(True, which="major", alpha=0.35)
    axes.grid(True, which="minor", alpha=0.12)
    axes.legend(loc=panel.legend_at)


def _scale(axes: Axes, scale: Scale, horizontal: bool) -> None:
    axis = axes.xaxis if horizontal else axes.yaxis
    axis.set_label_text(scale.label)
    if scale.log and horizontal:  # before the ticks: a change of scale resets them
        axes.set_xscale("log")
    elif scale.log:
        axes.set_yscale("log")
    if not horizontal and (scale.from_zero or scale.top is not None):
        axes.set_ylim(bottom=0 if scale.from_zero else None, top=scale.top)
    ticks = scale.ticks
    if scale.log and not ticks:
        low, high = axes.get_xlim() if horizontal else axes.get_ylim()  # after autoscaling
        ticks = [(value, f"{value:,g}") for value in _log_steps(low, high)]
    if ticks:
        limits = axes.get_xlim() if horizontal else axes.get_ylim()
        axis.set_ticks([value for value, _ in ticks], [text for _, text in ticks])
        axis.set_minor_formatter(NullFormatter())
        (axes.set_xlim if horizontal else axes.set_ylim)(limits)  # ticks must not widen them
    if scale.percent:
        axis.set_major_formatter(PercentFormatter(xmax=1.0))


def _widen_right(axes: Axes, log: bool) -> None:
    """More room on the right, for the label of the last point."""
    low, high = axes.get_xlim()
    axes.set_xlim(low, high * math.pow(high / low, 0.15) if log else high + (high - low) * 0.15)


def _log_steps(low: float, high: float) -> list[float]:
    """Round values between `low` and `high`, fewer per decade the more decades there are, so
    that a log axis keeps four to eight labels."""
    span = high / low
    mantissas: tuple[float, ...] = (1.0, 3.0)
    if span <= 10:
        mantissas = (1.0, 2.0, 3.0, 5.0, 7.0)
    elif span <= 100:
        mantissas = (1.0, 2.0, 5.0)
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    steps = [m * 10.0**e for e in range(first, last + 1) for m in mantissas]
    return [value for value in steps if low <= value <= high]
