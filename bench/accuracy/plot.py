"""The accuracy-against-cost picture: one point per (dataset, arm), PNG via matplotlib's Agg canvas.

x is the mean number of completion tokens per item (everything the upstream generated
for the item, reasoning included), y the accuracy with its Wilson interval as an error
bar. Each dataset has one colour and two lines, each in order of tokens: a solid one
through the baseline and the CePO arms, a dashed one through the baseline and the
self-consistency arms (``sc<k>``), so each method's cost curve reads on its own. No pyplot
global state is used, so it is safe to call from tests and threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

from bench.accuracy.arms import BASELINE, is_self_consistency
from bench.accuracy.summary import ArmSummary


def cost_curves(arms: Sequence[ArmSummary]) -> list[tuple[str, list[ArmSummary]]]:
    """The lines to draw: ``(linestyle, arms in order of tokens)``, baseline in both."""
    sc = [a for a in arms if a.arm == BASELINE or is_self_consistency(a.arm)]
    other = [a for a in arms if not is_self_consistency(a.arm)]
    lines = [("-", other), ("--", sc)]
    return [
        (style, sorted(group, key=lambda a: a.completion_tokens or 0.0))
        for style, group in lines
        if len(group) > 1
    ]


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
        bars = axes.errorbar(
            xs, ys, yerr=[below, above], marker="o", capsize=3, linestyle="none", label=label
        )
        colour = bars.lines[0].get_color()
        for style, line in cost_curves(arms):
            axes.plot(
                [a.completion_tokens or 0.0 for a in line],
                [a.accuracy for a in line],
                linestyle=style,
                color=colour,
                linewidth=1.2,
            )
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
    handles, _ = axes.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="grey", linestyle="-", label="baseline and CePO"),
        Line2D([], [], color="grey", linestyle="--", label="baseline and self-consistency"),
    ]
    axes.legend(handles=handles, loc="upper left", fontsize=8)
    axes.set_title("Accuracy against tokens per item")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return True
