"""Same seed and partitions -> byte-identical results for any worker count and executor."""
import pytest

import simcore

from .conftest import results_snapshot

CASES = [("serial", 1), ("thread", 1), ("thread", 2), ("thread", 4), ("process", 1), ("process", 2), ("process", 4)]
PROBLEMS = {
    "transport": dict(histories=40_000, thickness=2.0, scatter_ratio=0.8, incidence="isotropic", bins=16,
                      partitions=12, seed=2026),
    "pi": dict(samples=3_000_001, partitions=7, seed=99),
}


@pytest.mark.parametrize("model", sorted(PROBLEMS))
def test_results_are_bitwise_identical_across_executors_and_workers(model, tmp_path):
    snapshots = {}
    for executor, workers in CASES:
        out = tmp_path / f"{executor}-{workers}.h5"
        simcore.run(model, executor=executor, workers=workers, out=str(out), **PROBLEMS[model])
        snapshots[(executor, workers)] = results_snapshot(out)
    reference = snapshots[("serial", 1)]
    assert reference  # something to compare
    for case, snapshot in snapshots.items():
        assert snapshot.keys() == reference.keys(), case
        for key in reference:
            assert snapshot[key] == reference[key], f"{model}: {key} differs for {case}"


def test_a_different_seed_changes_the_results(tmp_path):
    a = simcore.run("pi", samples=100_000, seed=1, executor="serial", out=str(tmp_path / "a.h5"))
    b = simcore.run("pi", samples=100_000, seed=2, executor="serial", out=str(tmp_path / "b.h5"))
    assert a.mean("pi") != b.mean("pi")


def test_transport_histories_do_not_depend_on_the_partitioning(tmp_path):
    """Streams are keyed by history, so integer outcome counts agree for any P."""
    counts = []
    for partitions in (1, 5, 16):
        res = simcore.run("transport", histories=20_000, partitions=partitions, executor="serial",
                          out=str(tmp_path / f"p{partitions}.h5"))
        counts.append(tuple(round(res.mean(name) * 20_000) for name in ("reflection", "transmission", "absorption")))
    assert counts[0] == counts[1] == counts[2]
