"""The LJ neighbour lists and forces against an all-pairs minimum-image computation (numpy)."""
import numpy as np
import pytest

from simcore.models import lj_kernels as kernels
from simcore.models.base import fold_into_box


def _brute_pairs(x, box, radius):
    """{(i, j): d} for i != j with |d| < radius, d = x_i - (minimum image of x_j) (numpy, all pairs)."""
    d = x[:, None, :] - x[None, :, :]
    d -= box * np.round(d / box)
    r2 = np.einsum("ijk,ijk->ij", d, d)
    i, j = np.nonzero((r2 < radius * radius) & ~np.eye(len(x), dtype=bool))
    return {(a, b): d[a, b] for a, b in zip(i, j)}


def _listed(x, box, radius, a, b):
    """[(i, j, d, newton)] of build_neighbours for partition [a, b), d from the stored image."""
    bounds, neighbours, images = kernels.build_neighbours(np.ascontiguousarray(x.T), box, radius, a, b)
    out = []
    for i in range(a, b):
        for segment in range(kernels.SEGMENTS):
            for k in range(bounds[kernels.SEGMENTS * (i - a) + segment],
                           bounds[kernels.SEGMENTS * (i - a) + segment + 1]):
                j, code = int(neighbours[k]), int(images[k])
                shift = np.array([code // 9 - 1, code // 3 % 3 - 1, code % 3 - 1]) * box
                out.append((i, j, x[i] - x[j] - shift, segment == 0))
    return out


@pytest.mark.parametrize("atoms, box, radius", [(400, 6.0, 2.8), (300, 5.0, 2.5), (500, 11.0, 1.3)])
def test_lists_hold_every_pair_once_per_partition_side_with_its_image(atoms, box, radius):
    """Inside a partition a pair is listed once, across partitions at each side; images give the minimum image."""
    rng = np.random.default_rng(atoms)
    x = rng.random((atoms, 3)) * box
    expected = _brute_pairs(x, box, radius)
    for partitions in (1, 3, 7):
        cuts = [atoms * q // partitions for q in range(partitions + 1)]
        listed = []
        for a, b in zip(cuts, cuts[1:]):
            for i, j, d, newton in _listed(x, box, radius, a, b):
                assert newton == (a <= j < b)
                np.testing.assert_allclose(d, expected[i, j], atol=1e-12)
                listed.append((min(i, j), max(i, j)) if newton else (i, j))
        wanted = [(i, j) for i, j in expected if i < j or partition_of(i, cuts) != partition_of(j, cuts)]
        assert sorted(listed) == sorted(wanted)


def partition_of(i, cuts):
    return np.searchsorted(cuts, i, side="right") - 1


def test_forces_energy_and_virial_match_all_pairs():
    """Forces, energy and virial from the lists of 4 partitions (positions up to skin/2 outside the box)."""
    rng = np.random.default_rng(5)
    rc, skin, spacing = 2.5, 0.4, 1.65
    x = kernels.fcc_lattice(4, spacing) + rng.normal(0.0, 0.1, (256, 3))  # a hot solid: forces of all signs
    atoms, box = len(x), 4 * spacing
    x = fold_into_box(x, box)
    moved = x + rng.uniform(-skin / 2 / np.sqrt(3), skin / 2 / np.sqrt(3), x.shape)  # not wrapped, like a step
    d = moved[:, None, :] - moved[None, :, :]
    d -= box * np.round(d / box)
    r2 = np.einsum("ijk,ijk->ij", d, d)
    np.fill_diagonal(r2, box * box)  # beyond the cutoff
    inside = r2 < rc * rc
    inv6 = np.where(inside, r2 ** -3.0, 0.0)
    scale = np.where(inside, 48 * inv6 * (inv6 - 0.5) / r2, 0.0)
    shift = 4 * (rc**-12 - rc**-6)
    expected_force = np.einsum("ij,ijk->ik", scale, d)
    expected_energy = 0.5 * np.sum(np.where(inside, 4 * inv6 * (inv6 - 1) - shift, 0.0))
    expected_virial = 0.5 * np.sum(scale * r2)
    force, energy, virial = np.zeros((3, atoms)), np.zeros(atoms), np.zeros(atoms)  # kernels take (3, N) tables
    cuts = [0, 60, 150, 155, atoms]
    for a, b in zip(cuts, cuts[1:]):
        bounds, neighbours, images = kernels.build_neighbours(np.ascontiguousarray(x.T), box, rc + skin, a, b)
        kernels.forces(np.ascontiguousarray(moved.T), box, rc, shift, a, b, bounds, neighbours, images, force,
                       energy, virial)
    np.testing.assert_allclose(force.T, expected_force, rtol=1e-10, atol=1e-10 * np.abs(expected_force).max())
    assert energy.sum() == pytest.approx(expected_energy, rel=1e-12)
    assert virial.sum() == pytest.approx(expected_virial, rel=1e-12)
