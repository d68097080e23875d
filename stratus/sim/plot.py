"""A picture of a replay: waiting jobs, busy CPUs and powered nodes over time (PNG or SVG).

Drawn with matplotlib (installed with ``pip install 'stratus-hpc[plot]'``), imported only when a
plot is asked for, so the rest of the command line does not pay for it.
"""

from __future__ import annotations

from pathlib import Path

from stratus.errors import UserError
from stratus.sim.runner import SimResult

FORMATS = (".png", ".svg")


def plot(result: SimResult, path: str, *, title: str = "") -> None:
    """Write the plot to ``path``; its extension (``.png`` or ``.svg``) picks the format."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UserError(f"--plot: {path} must end in .png or .svg.")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--plot needs matplotlib: pip install 'stratus-hpc[plot]'.") from None
    t0, t1 = result.start, max(result.end, result.start + 1.0)
    engine = result.engine
    cpus_of = {name: node.defn.cpus for name, node in engine.nodes.items()}
    total_cpus = sum(cpus_of.values())
    elastic = any(not node.defn.static for node in engine.nodes.values())
    edges, pending_mean, pending_max = _binned(result.samples, 1, t0, t1)
    _, busy_mean, _ = _binned(result.samples, 2, t0, t1)
    days = [(t - t0) / 86400.0 for t in edges]
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(11, 6), constrained_layout=True)
    ax1.fill_between(
        days, pending_max, step="post", color="tab:orange", alpha=0.25, linewidth=0, label="most"
    )
    ax1.step(days, pending_mean, where="post", color="tab:orange", linewidth=1.0, label="average")
    ax1.set_ylabel("waiting jobs")
    ax1.set_title(title or "replay")
    ax1.legend(loc="upper right", fontsize="small")
    ax2.step(days, busy_mean, where="post", color="tab:blue", linewidth=1.0, label="busy CPUs (average)")
    if elastic:
        per_node = total_cpus / max(len(cpus_of), 1)
        _, powered, _ = _binned(result.samples, 3, t0, t1)
        ax2.step(
            days,
            [n * per_node for n in powered],
            where="post",
            color="tab:green",
            linewidth=1.0,
            label="powered-up nodes, in CPUs (average)",
        )
    ax2.axhline(total_cpus, color="grey", linestyle="--", linewidth=0.8, label="cluster CPUs")
    ax2.set_ylim(bottom=0)
    ax2.set_ylabel("CPUs")
    ax2.set_xlabel("days since the first submission")
    ax2.legend(loc="lower right", fontsize="small")
    try:
        fig.savefig(path, format=suffix[1:], dpi=120)
    except OSError as exc:
        raise UserError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def _binned(
    samples: list[tuple[float, int, int, int]], column: int, t0: float, t1: float, bins: int = 400
) -> tuple[list[float], list[float], list[float]]:
    """A step series resampled into ``bins`` equal spans: each span's time-weighted mean and max.

    A year of events is more points than a plot can show; averages over spans keep its shape.
    """
    width = (t1 - t0) / bins
    edges = [t0 + i * width for i in range(bins)]
    area = [0.0] * bins
    most = [0.0] * bins
    for k, sample in enumerate(samples):
        start = max(sample[0], t0)
        stop = min(samples[k + 1][0] if k + 1 < len(samples) else t1, t1)
        value = float(sample[column])
        while start < stop:
            b = min(int((start - t0) / width), bins - 1)
            edge = t0 + (b + 1) * width if b < bins - 1 else stop
            piece = min(stop, edge) - start
            if piece <= 0:
                break
            area[b] += value * piece
            most[b] = max(most[b], value)
            start += piece
    return edges, [a / width for a in area], most
