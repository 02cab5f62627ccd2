"""Draws docs/benchmarks.png from the harness's JSON results: per metric with a peer, how many
times lower ours is (peer / ours, log scale), with the target where there is one.
Usage: bench_chart.py RESULTS_JSON OUTPUT_PNG (run with .tools/bench-venv/bin/python)."""

import json
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

report = json.load(open(sys.argv[1]))
rows = [r for r in report["rows"] if r["peer"] is not None and r["ours"] > 0 and r["peer"] > 0]
# Wrapped, so long labels do not push the plot and its title off the page.
labels = ["\n".join(textwrap.wrap(f'{r["group"]}: {r["metric"]}', 70)) for r in rows]
ratios = [r["peer"] / r["ours"] for r in rows]
fig, ax = plt.subplots(figsize=(11, 0.55 * len(rows) + 1.6))
colors = ["#2b7a3d" if x >= 1 else "#b03a2e" for x in ratios]
ax.barh(range(len(rows)), ratios, color=colors)
for i, r in enumerate(rows):
    t = r.get("target")
    if t and t["kind"] == "times_lower":
        ax.plot([t["value"], t["value"]], [i - 0.4, i + 0.4], color="black", linewidth=2)
    ax.text(ratios[i] * 1.05, i, f"{ratios[i]:.1f}x", va="center", fontsize=8)
ax.set_yticks(range(len(rows)))
ax.set_yticklabels(labels, fontsize=8)
ax.invert_yaxis()
ax.set_xscale("log")
ax.set_xlim(min(0.5, min(ratios) / 1.5), max(ratios) * 3)
ax.axvline(1, color="grey", linewidth=0.8)
ax.set_xlabel("times lower than the Python peer (peer / ours; log scale; black tick: target)")
ax.set_title("Tenantry (Rust) beside the published Python design, same machine, one run", fontsize=10)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
