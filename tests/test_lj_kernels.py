"""The LJ neighbour lists and forces against an all-pairs minimum-image computation (numpy)."""
import numpy as np
import pytest

from simcore.models import lj_kernels as kernels
from simcore.models import lj_lists
from simcore.models.base import fold_into_box


def _brute_pairs(x, box, radius):
    """{(i, j): d} for i != j with |d| < radius, d = x_i - (minimum image of x_j) (numpy, all pairs)."""
    d = x[:, None, :] - x[None, :, :]
    d -= box * np.round(d / box)
    r2 = np.einsum("ijk,ijk->ij", d, d)
    i, j = np.nonzero((r2 < radius * radius) & ~np.eye(len(x), dtype=bool))
    return {(a, b): d[a, b] for a, b in zip(i, j)}


def _listed(x, box, radius, a, b):
    """[(i, j, d)] of lj_lists.build for partition [a, b), d from the listed entry's image; and the lists."""
    xref = np.ascontiguousarray(x.T)
    lists = lj_lists.build(xref, lj_lists.bin_atoms(xref, box, radius), a, b)
    xe = kernels.gather_entries(np.ascontiguousarray(x.T), lj_lists.image_shifts(box, radius), lists.entries,
                                lists.gathered, lists.gathered_atom, lists.gathered_image)
    atom_of = dict(zip(lists.gathered, lists.gathered_atom))
    dummy = lists.entries
    out = []
    for lane, i in enumerate(lists.local_atom):
        block, within = divmod(lane, lj_lists.LANES)
        rows = lists.neighbours[lists.block_start[block] + within:lists.block_start[block + 1]:lj_lists.LANES]
        real = rows[rows != dummy]
        assert np.all(rows[len(real):] == dummy), "the dummy only pads the end of a list"
        out += [(int(i), int(atom_of[m]), xe[:, lists.local_entry[lane]] - xe[:, m]) for m in real]
    return out, lists


@pytest.mark.parametrize("atoms, box, radius", [pytest.param(400, 6.0, 2.8, marks=pytest.mark.slow),
                                                      pytest.param(300, 5.0, 2.5, marks=pytest.mark.slow),  # the default suite's budget; the next stays
                                                      (500, 11.0, 1.3)])
def test_lists_hold_every_pair_at_both_atoms_with_its_image(atoms, box, radius):
    """Each partition lists its atoms' every neighbour once, at its minimum image, and nothing else."""
    rng = np.random.default_rng(atoms)
    x = rng.random((atoms, 3)) * box
    expected = _brute_pairs(x, box, radius)
    for partitions in (1, 3, 7):
        cuts = [atoms * q // partitions for q in range(partitions + 1)]
        listed = []
        for a, b in zip(cuts, cuts[1:]):
            pairs, lists = _listed(x, box, radius, a, b)
            assert sorted(lists.local_atom) == list(range(a, b))
            for i, j, d in pairs:
                np.testing.assert_allclose(d, expected[i, j], atol=1e-12)
                listed.append((i, j))
        assert sorted(listed) == sorted(expected)


def _all_pair_forces(x, box, rc, shift):
    """Forces (N, 3), total pair energy and virial of positions ``x`` (N, 3), all pairs (numpy)."""
    d = x[:, None, :] - x[None, :, :]
    d -= box * np.round(d / box)
    r2 = np.einsum("ijk,ijk->ij", d, d)
    np.fill_diagonal(r2, box * box)  # beyond the cutoff
    inside = r2 < rc * rc
    inv6 = np.where(inside, r2 ** -3.0, 0.0)
    scale = np.where(inside, 48 * inv6 * (inv6 - 0.5) / r2, 0.0)
    energy = 0.5 * np.sum(np.where(inside, 4 * inv6 * (inv6 - 1) - shift, 0.0))
    return np.einsum("ij,ijk->ik", scale, d), energy, 0.5 * np.sum(scale * r2)


def _partitioned_forces(x, moved, box, rc, skin, shift, cuts, energies=True):
    """force (3, N), energy (N,) and virial (N,) of ``moved`` from the lists of ``x``, partition by partition."""
    atoms = len(x)
    force, energy, virial = np.zeros((3, atoms)), np.zeros(atoms), np.zeros(atoms)  # kernels take (3, N) tables
    xref = np.ascontiguousarray(x.T)
    bins = lj_lists.bin_atoms(xref, box, rc + skin)
    for a, b in zip(cuts, cuts[1:]):
        lists = lj_lists.build(xref, bins, a, b)
        kernels.forces(np.ascontiguousarray(moved.T), box, rc, rc + skin, shift, energies, lists, force, energy,
                       virial)
    return force, energy, virial


def _hot_solid(skin):
    """A hot fcc solid of 256 atoms (forces of all signs), its box, and the same moved by up to skin/2, not
    wrapped (like a step between list builds)."""
    rng = np.random.default_rng(5)
    spacing = 1.65
    x = kernels.fcc_lattice(4, spacing) + rng.normal(0.0, 0.1, (256, 3))
    box = 4 * spacing
    x = fold_into_box(x, box)
    return x, box, x + rng.uniform(-skin / 2 / np.sqrt(3), skin / 2 / np.sqrt(3), x.shape)


def test_forces_energy_and_virial_match_all_pairs():
    """Forces, energy and virial from the lists of 4 partitions (positions up to skin/2 outside the box)."""
    rc, skin = 2.5, 0.4
    x, box, moved = _hot_solid(skin)
    shift = 4 * (rc**-12 - rc**-6)
    expected_force, expected_energy, expected_virial = _all_pair_forces(moved, box, rc, shift)
    force, energy, virial = _partitioned_forces(x, moved, box, rc, skin, shift, [0, 60, 150, 155, len(x)])
    np.testing.assert_allclose(force.T, expected_force, rtol=1e-10, atol=1e-10 * np.abs(expected_force).max())
    assert energy.sum() == pytest.approx(expected_energy, rel=1e-12)
    assert virial.sum() == pytest.approx(expected_virial, rel=1e-12)


def test_forces_are_bitwise_the_same_for_any_partitioning_and_without_energies():
    """Each atom sums its full list in entry order, whatever the partitions: forces are bitwise equal."""
    rc, skin = 2.5, 0.4
    x, box, moved = _hot_solid(skin)
    one, _, _ = _partitioned_forces(x, moved, box, rc, skin, 0.0, [0, len(x)])
    for cuts in ([0, 60, 150, 155, len(x)], [0, 1, 2, 100, len(x)]):
        assert np.array_equal(_partitioned_forces(x, moved, box, rc, skin, 0.0, cuts)[0], one)
    force, energy, virial = _partitioned_forces(x, moved, box, rc, skin, 0.0, [0, len(x)], energies=False)
    assert np.array_equal(force, one)
    assert not energy.any() and not virial.any()  # not computed, not written
