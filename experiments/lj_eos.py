"""Lennard-Jones fluid at T* = 0.85: potential energy per atom versus density against NIST's reference data.

One ``simcore.sweep`` of the lj model over the densities of
``data/nist_lj_srsw.csv`` (500 atoms, cutoff 3.0 with tail corrections,
Nose-Hoover at T = 0.85), as NIST's SRSW Monte Carlo runs were set up.
Writes ``lj_eos.h5`` (the sweep: one row per density) and ``lj_eos.png``,
and prints each point's difference from NIST in units of the combined error.

    python experiments/lj_eos.py [--densities 0.776,0.86] [--steps N] [--thermalize N] [--outdir DIR]
"""
from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import simcore  # noqa: E402
from simcore.plot import draw_sweep  # noqa: E402

NIST = Path(__file__).resolve().parents[1] / "data" / "nist_lj_srsw.csv"
TEMPERATURE = 0.85


def nist_rows() -> dict[float, dict[str, float]]:
    """NIST SRSW rows at T* = 0.85, by density."""
    with open(NIST) as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {float(r["density"]): {k: float(v) for k, v in r.items() if v} for r in rows
                if float(r["temperature"]) == TEMPERATURE}


def eos_sweep(densities: list[float], steps: int, thermalize: int, out: Path, **run) -> simcore.Results:
    """The lj runs at ``densities``: N = 500, cutoff 3.0, tail corrections, Nose-Hoover at T = 0.85."""
    return simcore.sweep("lj", {"density": densities}, cells=5, temperature=TEMPERATURE, cutoff=3.0,
                         tail_correction=True, thermostat="nose-hoover", damping=0.5, steps=steps,
                         thermalize=thermalize, partitions=1, out=str(out), force=True, **run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--densities", default="0.776,0.86", help="comma-separated densities (rows of the NIST table)")
    parser.add_argument("--steps", type=int, default=40_000, help="measured steps per point")
    parser.add_argument("--thermalize", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outdir", type=Path, default=Path("."))
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    reference = nist_rows()
    densities = [float(d) for d in args.densities.split(",")]
    missing = [d for d in densities if d not in reference]
    if missing:
        parser.error(f"no NIST row at density {missing[0]}; the table has {sorted(reference)}")
    res = eos_sweep(densities, args.steps, args.thermalize, args.outdir / "lj_eos.h5", seed=args.seed)
    energy, error = res.series("potential_energy_per_atom"), res.series("potential_energy_per_atom_stderr")
    fig, ax = plt.subplots(figsize=(6, 4))
    draw_sweep(ax, res, "potential_energy_per_atom", fmt="o", ms=5, capsize=3, label="simcore lj (MD, Nose-Hoover)")
    ax.errorbar(densities, [reference[d]["energy_per_atom"] for d in densities],
                yerr=[reference[d]["energy_stderr"] for d in densities], fmt="s", mfc="none", ms=8, capsize=3,
                label="NIST SRSW (MC)")
    ax.set_title(f"LJ fluid, T* = {TEMPERATURE}, N = 500, rc = 3.0 + tail corrections")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.outdir / "lj_eos.png", dpi=120)
    for density, mean, stderr in zip(densities, energy, error):
        nist = reference[density]
        combined = math.hypot(stderr, nist["energy_stderr"])
        print(f"density {density:<6}  U/N = {mean:.4f} ± {stderr:.4f}   NIST {nist['energy_per_atom']:.4f} "
              f"± {nist['energy_stderr']:.4f}   ({(mean - nist['energy_per_atom']) / combined:+.1f} sigma)")
    print(f"wrote {res.path} and {args.outdir / 'lj_eos.png'} in {float(res.attrs['wall_seconds']):.1f} s")


if __name__ == "__main__":
    main()
