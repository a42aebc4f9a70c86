"""The chart next to the table: CePO wall time against the upstream latency ``L``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(sweep: list[dict[str, Any]], path: Path, *, title: str, critical_path_calls: int) -> Path:
    """Write a PNG of wall time against L for the ideal (``critical_path_calls`` calls back
    to back), cepo-proxy and optillm (when run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latencies = [row["latency"] for row in sweep]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    axes.plot(
        latencies,
        [row["ideal"] for row in sweep],
        "k--",
        label=f"ideal ({critical_path_calls} x (L + gen))",
    )
    series = (("ours", "cepo-proxy", "tab:blue", "o"), ("optillm", "optillm 0.4.0", "tab:red", "s"))
    for key, label, colour, marker in series:
        points = [(row["latency"], row[key]) for row in sweep if row.get(key) is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, marker=marker, color=colour, label=label)
    axes.set_xlabel("upstream latency per call, L (s)")
    axes.set_ylabel("wall time of one CePO request (s)")
    axes.set_title(title, fontsize=10)
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
