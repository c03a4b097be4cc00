"""What a report is made of: sections holding text, tables and figures (rendered to Markdown and HTML),
and the plots the task families draw (matplotlib, drawn to SVG so the HTML needs no network)."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field


@dataclass
class Text:
    """A paragraph; `backticks` become code."""
    text: str


@dataclass
class Rate:
    """A rate cell: the value, its 95 % interval (Wilson for proportions; value +- 1.96 stderr for other
    statistics) and the number of samples it was computed over."""
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int | None = None

    @property
    def interval(self) -> str:
        return "" if self.low is None or self.high is None else f"[{self.low:.2f}, {self.high:.2f}]"


@dataclass
class Table:
    header: list[str]
    rows: list[list]


@dataclass
class Figure:
    """A plot as SVG text; ``name`` is its file name next to ``report.md``."""
    title: str
    svg: str
    name: str = ""


@dataclass
class Section:
    """One report section, e.g. a task family's: a title and its blocks, in order."""
    title: str
    blocks: list = field(default_factory=list)


def fmt(value) -> str:
    """A cell: 3 decimals for floats, '–' for missing or NaN values; a rate with its interval and n."""
    if isinstance(value, Rate):
        if value.value is None:
            return "–" if value.n is None else f"– (n={value.n})"
        return " ".join(part for part in (f"{value.value:.3f}", value.interval,
                                          "" if value.n is None else f"n={value.n}") if part)
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "path", "font.size": 10, "legend.fontsize": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "svg.hashsalt": "mmpriv"})
    return plt


def _svg(fig, title: str) -> Figure:
    plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return Figure(title, buffer.getvalue())


def _finite(value) -> float:
    value = value.value if isinstance(value, Rate) else value
    return value if isinstance(value, (int, float)) and not math.isnan(value) else math.nan


def bar_chart(title: str, categories: list[str], series: dict[str, list], ylabel: str = "rate",
              markers: dict[str, list] | None = None, ylim: tuple = (0, 1.1)) -> Figure:
    """Grouped bars: one group per category, one bar per series (e.g. model); a :class:`Rate` value gets
    an error bar (its 95 % interval); ``markers`` draws a labelled tick per category (e.g. the chance
    level). The legend sits right of the axes, so it never covers a bar or a marker."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.5, 0.9 * len(categories) * max(1, len(series)) ** 0.5 + 3.5), 3.6))
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories))]
        heights = [_finite(v) for v in values]
        bars = ax.bar(xs, heights, width, label=label)
        errors = [(h - v.low, v.high - h) if isinstance(v, Rate) and v.low is not None and not math.isnan(h)
                  else (0, 0) for h, v in zip(heights, values)]
        if any(e != (0, 0) for e in errors):
            ax.errorbar(xs, [0 if math.isnan(h) else h for h in heights], yerr=list(zip(*errors)), fmt="none",
                        ecolor="#333", elinewidth=1, capsize=3, zorder=3)
        if len(categories) * len(series) <= 24:  # values on the bars (a 0 bar is otherwise invisible)
            ax.bar_label(bars, labels=[f"{h:.2f}" if not math.isnan(h) else "" for h in heights], fontsize=8,
                         padding=2, label_type="center" if any(e != (0, 0) for e in errors) else "edge", zorder=5,
                         bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    for label, values in (markers or {}).items():
        ax.scatter(range(len(categories)), [_finite(v) for v in values], marker="_", s=900, color="black",
                   zorder=4, label=label)
    ax.set_xticks(range(len(categories)), categories, rotation=20 if len(categories) > 5 else 0, ha="right"
                  if len(categories) > 5 else "center")
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
        ax.set_yticks([t / 5 for t in range(6)] if ylim[1] <= 1.1 else ax.get_yticks())
    ax.set_title(title, wrap=True)
    if series or markers:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, markerscale=0.6)
    return _svg(fig, title)


def heatmap(title: str, rows: list[str], columns: list[str], values: list[list], label: str = "leak rate") -> Figure:
    """A rows x columns grid of rates in [0, 1], each cell annotated (– where missing)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(columns) + 2.5), 0.45 * len(rows) + 1.6))
    grid = [[_finite(v) for v in row] for row in values]
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="Reds", aspect="auto")
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), rows)
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            ax.text(c, r, fmt(value) if not math.isnan(value) else "–", ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 else "black")
    fig.colorbar(image, ax=ax, label=label)
    ax.set_title(title, wrap=True)
    return _svg(fig, title)


def scatter(title: str, points: dict[str, tuple], xlabel: str, ylabel: str) -> Figure:
    """One labelled point per model in the unit square."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for label, (x, y) in points.items():
        ax.scatter([_finite(x)], [_finite(y)], s=40)
        ax.annotate(label, (_finite(x), _finite(y)), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, wrap=True)
    return _svg(fig, title)
