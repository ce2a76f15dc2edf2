"""The run's loss/metric plot over kimg, drawn from ``stats.jsonl``."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from progan.training.stats import read_stats

_LOSS_KEYS = ("loss/D", "loss/G", "loss/gp", "scores/real", "scores/fake")
_AUGMENT_KEYS = ("augment/p", "scores/real_sign")   # ADA's p and r_t


def plot_stats(stats_path: Path, out_path: Path) -> Path | None:
    """Losses (top), ADA's p and r_t (when augmenting) and metrics (when any) against kimg, with
    resolution changes marked."""
    rows = read_stats(stats_path)
    if not rows:
        return None
    kimg = [r["kimg"] for r in rows]
    metric_keys = sorted({k for r in rows for k in r if k.startswith("metric/")})
    augmenting = any("augment/p" in r for r in rows)
    panels = 1 + bool(metric_keys) + augmenting
    # A Figure on its own Agg canvas: pyplot's global backend (a notebook's, say) is left alone.
    fig = Figure(figsize=(8, 1 + 3 * panels))
    FigureCanvasAgg(fig)
    axes = fig.subplots(panels, 1, squeeze=False)
    ax = axes[0][0]
    for key in _LOSS_KEYS:
        if any(key in r for r in rows):
            ax.plot(kimg, [r.get(key, float("nan")) for r in rows], label=key)
    prev = None
    for r in rows:
        if r.get("resolution") != prev and prev is not None:
            ax.axvline(r["kimg"], color="gray", lw=0.5, ls=":")
            ax.text(r["kimg"], 1.0, f" {r['resolution']}px", transform=ax.get_xaxis_transform(), fontsize=7,
                    va="top")
        prev = r.get("resolution")
    ax.set_xlabel("kimg")
    ax.set_ylabel("loss / score")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if augmenting:
        px = axes[1][0]
        for key, label in zip(_AUGMENT_KEYS, ("p", "r_t = E[sign D(real)]")):
            if any(key in r for r in rows):
                px.plot(kimg, [r.get(key, float("nan")) for r in rows], label=label)
        px.set_xlabel("kimg")
        px.set_ylabel("augmentation")
        px.legend(fontsize=8)
        px.grid(alpha=0.3)
    if metric_keys:
        mx = axes[-1][0]
        for key in metric_keys:
            pts = [(r["kimg"], r[key]) for r in rows if key in r]
            mx.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=key)
        mx.set_xlabel("kimg")
        mx.set_ylabel("metric")
        mx.legend(fontsize=8)
        mx.grid(alpha=0.3)
    fig.tight_layout()
    tmp = out_path.with_name(f".{out_path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(out_path)
    return out_path
