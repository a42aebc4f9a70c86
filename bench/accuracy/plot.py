"""The accuracy-against-cost picture: one point per (dataset, arm), PNG via matplotlib's Agg canvas.

x is the mean number of completion tokens per item (everything the upstream generated
for the item, reasoning included), y the accuracy with its Wilson interval as an error
bar; the arms of one dataset are joined in table order. No pyplot global state is used,
so it is safe to call from tests and threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

from bench.accuracy.summary import ArmSummary


def plot_accuracy_vs_tokens(summaries: Sequence[ArmSummary], path: Path) -> bool:
    """Write the plot to ``path`` (PNG); False (nothing written) when no arm has token counts."""
    points = [s for s in summaries if s.n > 0 and s.completion_tokens is not None]
    if not points:
        return False
    figure = Figure(figsize=(7.0, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    series: dict[tuple[str, str], list[ArmSummary]] = {}
    for summary in points:
        series.setdefault((summary.model, summary.dataset), []).append(summary)
    several_models = len({model for model, _ in series}) > 1
    for (model, dataset), arms in series.items():
        xs = [arm.completion_tokens or 0.0 for arm in arms]
        ys = [arm.accuracy for arm in arms]
        below = [arm.accuracy - arm.interval[0] for arm in arms]
        above = [arm.interval[1] - arm.accuracy for arm in arms]
        label = f"{dataset} ({model})" if several_models else dataset
        axes.errorbar(xs, ys, yerr=[below, above], marker="o", capsize=3, label=label)
        for arm, x, y in zip(arms, xs, ys, strict=True):
            axes.annotate(arm.arm, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("mean completion tokens per item (log scale)")
    axes.set_ylabel("accuracy (95% Wilson interval)")
    axes.set_ylim(0.0, 1.05)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    axes.set_title("Accuracy against tokens per item")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return True
