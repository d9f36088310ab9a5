"""Slab albedo versus scattering ratio: rod model against its closed form, and 3D.

Runs the transport model on a half-space for several scattering ratios c, in
the rod model (reflection (1-k)/(1+k), k = sqrt(1-c)) and with 3D isotropic
scattering at normal incidence, as one ``simcore.sweep``, and writes
``slab_albedo.h5`` (the sweep: one row per point) and ``slab_albedo.png``
(with the analytic rod curve).

    python experiments/slab_albedo.py [--histories N] [--outdir DIR]
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import simcore  # noqa: E402
from simcore.plot import draw_sweep  # noqa: E402

SCATTER_RATIOS = (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
DIRECTIONS = ("rod", "3d")


def rod_albedo(c: np.ndarray) -> np.ndarray:
    """Exact half-space reflection of the rod model, (1-k)/(1+k) with k = sqrt(1-c)."""
    k = np.sqrt(1.0 - c)
    return (1.0 - k) / (1.0 + k)


def albedo_sweep(histories: int, out: Path) -> simcore.Results:
    """One sweep over (directions, c) on a half-space at normal incidence; one row per point."""
    return simcore.sweep("transport", {"directions": list(DIRECTIONS), "scatter_ratio": list(SCATTER_RATIOS)},
                         histories=histories, thickness=math.inf, out=str(out), force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, default=200_000)
    parser.add_argument("--outdir", type=Path, default=Path("."))
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    c = np.array(SCATTER_RATIOS)
    res = albedo_sweep(args.histories, args.outdir / "slab_albedo.h5")
    table = {}
    for directions in DIRECTIONS:
        rows = res.series("directions") == directions.encode()
        table[f"{directions}_reflection"] = res.series("reflection")[rows]
        table[f"{directions}_stderr"] = res.series("reflection_stderr")[rows]
    fine = np.linspace(0, 0.99, 200)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(fine, rod_albedo(fine), "k-", lw=1, label="rod, exact (1-k)/(1+k)")
    draw_sweep(ax, res, "reflection", x="scatter_ratio", fmt="o", ms=4)  # one series per directions
    ax.set_ylabel("half-space reflection (albedo)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.outdir / "slab_albedo.png", dpi=120)
    for i, ci in enumerate(c):
        print(f"c={ci:4.2f}  rod {table['rod_reflection'][i]:.4f} ± {table['rod_stderr'][i]:.4f} "
              f"(exact {rod_albedo(ci):.4f})   3d {table['3d_reflection'][i]:.4f} ± {table['3d_stderr'][i]:.4f}")


if __name__ == "__main__":
    main()
