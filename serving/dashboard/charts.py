"""Charts drawn on the server: matplotlib renders SVG, which the page embeds as an ``<img>`` data URI.

No chart library reaches the browser, so the dashboard works offline and under a strict Content
Security Policy (an image's own styles are not the page's). Each chart comes with its figures as a
table in the page, for screen readers and for reading exact values. matplotlib is imported on first
use, so the API starts without it; the object API (``Figure``, no pyplot) keeps no global state and is
safe in the thread pool.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

COLOURS = ("#1f6feb", "#d97706", "#16a34a", "#9333ea", "#dc2626", "#0891b2")
WIDTH, HEIGHT = 6.4, 3.0  # inches at 100 dpi: scaled to the column's width by the page


@dataclass(frozen=True)
class Chart:
    """An embeddable chart: ``src`` for an ``<img>``, ``alt`` describing it."""

    src: str
    alt: str


def _figure() -> Any:
    import matplotlib

    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: a third of the size, and it scales cleanly
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def _style(ax: Any, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)


def _encode(fig: Any, alt: str) -> Chart:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return Chart(src="data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode(), alt=alt)


def bars(labels: Sequence[str], series: Mapping[str, Sequence[float]], *, xlabel: str, ylabel: str, alt: str,
         rotate: bool = False) -> Chart:
    """Grouped bars: one group per label, one bar per series."""
    fig, ax = _figure()
    count = max(len(series), 1)
    width = 0.8 / count
    for i, (name, values) in enumerate(series.items()):
        offsets = [x + (i - (count - 1) / 2) * width for x in range(len(labels))]
        ax.bar(offsets, list(values), width=width, label=name, color=COLOURS[i % len(COLOURS)])
    ax.set_xticks(range(len(labels)), [str(label) for label in labels], rotation=30 if rotate else 0,
                  ha="right" if rotate else "center")
    if len(series) > 1:
        ax.legend(frameon=False)
    _style(ax, xlabel, ylabel)
    return _encode(fig, alt)


def lines(x: Sequence[Any], series: Mapping[str, Sequence[float | None]], *, xlabel: str, ylabel: str, alt: str,
          markers: bool = False, dates: bool = False) -> Chart:
    """One line per series over ``x`` (dates when ``dates``, else labels); a None is a gap. The y axis
    starts at zero, so a small change looks small."""
    fig, ax = _figure()
    for i, (name, values) in enumerate(series.items()):
        ys = [float("nan") if v is None else v for v in values]
        ax.plot(list(x), ys, label=name, color=COLOURS[i % len(COLOURS)], marker="o" if markers else None,
                linewidth=1.6)
    if dates:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    elif x and isinstance(x[0], str):
        ax.set_xticks(range(len(x)), list(x), rotation=30, ha="right")
        ax.set_xlim(-0.5, len(x) - 0.5)
    ax.set_ylim(bottom=0)
    if len(series) > 1:
        ax.legend(frameon=False)
    _style(ax, xlabel, ylabel)
    return _encode(fig, alt)


def histogram(values: Sequence[float], bins: Sequence[float], *, xlabel: str, ylabel: str, alt: str) -> Chart:
    """Counts of ``values`` in ``bins`` (edges)."""
    fig, ax = _figure()
    ax.hist(list(values), bins=list(bins), color=COLOURS[0], edgecolor="white")
    _style(ax, xlabel, ylabel)
    return _encode(fig, alt)
