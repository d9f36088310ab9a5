"""Exact Ising averages by enumerating every state of a small lattice (independent of simcore's kernels)."""
import numpy as np


def exact_l4(temperature):
    """<E>/N, <|m|> and U4 of the periodic 4 x 4 lattice at h = 0, summed over all 2^16 states."""
    states = np.arange(2**16)[:, None]
    spins = (1 - 2 * ((states >> np.arange(16)) & 1)).reshape(-1, 4, 4)
    bonds = (spins * np.roll(spins, 1, axis=1)).sum(axis=(1, 2)) + (spins * np.roll(spins, 1, axis=2)).sum(axis=(1, 2))
    energy = -bonds.astype(np.float64)
    m = spins.sum(axis=(1, 2)) / 16.0
    weight = np.exp(-(energy - energy.min()) / temperature)

    def average(q):
        return np.dot(weight, q) / weight.sum()

    return {
        "energy_per_site": average(energy) / 16.0,
        "abs_magnetization_per_site": average(np.abs(m)),
        "binder": 1.0 - average(m**4) / (3.0 * average(m**2) ** 2),
    }
