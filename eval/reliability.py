"""How well a confidence is calibrated: expected calibration error and the reliability diagram."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

BINS = 10


def expected_calibration_error(confidences: list[float], rights: list[bool], bins: int = BINS) -> float:
    total, error = len(confidences), 0.0
    for b in range(bins):
        inside = [(c, r) for c, r in zip(confidences, rights, strict=True) if b / bins <= c < (b + 1) / bins or (b == bins - 1 and c == 1.0)]
        if inside:
            error += len(inside) / total * abs(statistics.fmean(c for c, _ in inside) - statistics.fmean(r for _, r in inside))
    return round(error, 4)


def reliability_diagram(confidences: list[float], rights: list[bool], label: str, path: Path) -> None:
    """Share right against confidence, per bin (the count of answers beside each point), and the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = np.array(confidences, dtype=float)
    right = np.array(rights, dtype=float)
    centers, observed, counts = [], [], []
    for b in range(BINS):
        inside = (conf >= b / BINS) & ((conf < (b + 1) / BINS) | (b == BINS - 1))
        if inside.any():
            centers.append(conf[inside].mean())
            observed.append(right[inside].mean())
            counts.append(int(inside.sum()))
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(centers, observed, marker="o", label=f"{label} (ECE {expected_calibration_error(confidences, rights)})")
    for x, y, n in zip(centers, observed, counts, strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("confidence")
    ax.set_ylabel("share right")
    ax.set_title("Reliability")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


