"""The checkpoint file and its writer: round trip, rotation, checksums, damage, disk full, back-pressure."""
import hashlib
import logging
import os
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from simcore import checkpoint as ck

CONFIG = 'model = "transport"\nseed = 3\npartitions = 6\n'
HEADER = ck.Header(model="transport", driver="batch", config=CONFIG,
                   config_sha256=hashlib.sha256(CONFIG.encode()).hexdigest(),
                   settings={"workers": 2, "executor": "process"})


def _snapshot(done_rows, status="running", seed=0):
    rows = np.random.default_rng(seed).random((6, 5))
    done = np.zeros(6, dtype=np.uint8)
    done[list(done_rows)] = 1
    return ck.Snapshot(status=status, counters={"partitions_done": int(done.sum())}, arrays={"done": done},
                       rows={"tallies": (rows, "done")}, elapsed_seconds=1.5), rows


def test_round_trip_keeps_selected_rows_and_zeroes_the_rest(tmp_path):
    snapshot, rows = _snapshot([0, 1, 4])
    path = ck.write_checkpoint(tmp_path / "r.h5", 2, HEADER, 7, snapshot)
    assert path == tmp_path / "r.h5.ckpt" / "checkpoint.h5"
    back = ck.read_checkpoint(path)
    assert (back.sequence, back.status, back.model, back.config) == (7, "running", "transport", CONFIG)
    assert back.counters == {"partitions_done": 3}
    assert back.settings == {"workers": 2, "executor": "process"}
    assert np.array_equal(back.rows("tallies", (6, 5))[[0, 1, 4]], rows[[0, 1, 4]])
    assert not back.rows("tallies", (6, 5))[[2, 3, 5]].any()
    assert back.results_path == tmp_path / "r.h5"


@pytest.mark.parametrize("keep", [1, 2, 3])
def test_rotation_keeps_the_newest_k(tmp_path, keep):
    out = tmp_path / "r.h5"
    for sequence in range(5):
        ck.write_checkpoint(out, keep, HEADER, sequence, _snapshot([sequence])[0])
    files = ck.existing_checkpoints(out)
    assert [ck.read_checkpoint(p).sequence for p in files] == list(range(4, 4 - keep, -1))
    assert sorted(p.name for p in (tmp_path / "r.h5.ckpt").iterdir() if not p.name.startswith("seg-")) == sorted(
        p.name for p in files)  # no temporary file left, nothing beside the directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5.ckpt"]


def _flip_byte_inside(path, dataset):
    with h5py.File(path, "r") as handle:
        offset = handle[dataset].id.get_offset()
    with open(path, "r+b") as handle:
        handle.seek(offset + 3)
        byte = handle.read(1)
        handle.seek(offset + 3)
        handle.write(bytes([byte[0] ^ 0x40]))


def _segment(path):
    (segment,) = ck.existing_segments(path.parent)
    return segment


@pytest.mark.parametrize("damage, message", [
    ("flip-segment", "checksum of row segment"),
    ("flip-done", "checksum of state/done"),
    ("truncate", "truncated or corrupt"),
    ("truncate-segment", "row segment .* is truncated or corrupt"),
    ("remove-segment", "row segment .* is missing"),
    ("config", "config does not match"),
    ("incomplete", "incomplete checkpoint"),
    ("text", "truncated or corrupt"),
])
def test_damage_is_detected(tmp_path, damage, message):
    path = ck.write_checkpoint(tmp_path / "r.h5", 2, HEADER, 1, _snapshot([0, 1, 2])[0])
    if damage == "flip-segment":
        _flip_byte_inside(_segment(path), "rows")
    elif damage == "flip-done":
        _flip_byte_inside(path, "state/done")
    elif damage == "truncate":
        os.truncate(path, path.stat().st_size // 2)
    elif damage == "truncate-segment":
        os.truncate(_segment(path), 200)
    elif damage == "remove-segment":
        _segment(path).unlink()
    elif damage in ("config", "incomplete"):
        with h5py.File(path, "r+") as handle:
            if damage == "config":
                handle.attrs["config"] = CONFIG.replace("seed = 3", "seed = 4")
            else:
                handle.attrs["complete"] = False
    else:
        path.write_text("not hdf5\n")
    with pytest.raises(ck.CheckpointFileError, match=message):
        ck.read_checkpoint(path)


def test_each_row_is_written_once_and_segments_no_checkpoint_lists_are_removed(tmp_path):
    out = tmp_path / "r.h5"
    rows = np.random.default_rng(5).random((6, 5))
    ledger = ck.RowLedger()
    for sequence, done_rows in enumerate([[0], [0, 3], [0, 3], [0, 1, 3, 5]]):
        done = np.zeros(6, dtype=np.uint8)
        done[done_rows] = 1
        snapshot = ck.Snapshot("running", {}, {"done": done}, {"tallies": (rows, "done")})
        ck.write_checkpoint(out, 2, HEADER, sequence, snapshot, ledger)
    segments = ck.existing_segments(ck.checkpoint_dir(out))
    # one segment per checkpoint that added rows (none for sequence 2), each holding only its new rows
    assert [p.name for p in segments] == [f"seg-tallies-{n:06d}.h5" for n in (0, 1, 3)]
    with h5py.File(segments[-1], "r") as handle:
        assert list(handle["index"][()]) == [1, 5]
    newest, older = (ck.read_checkpoint(p) for p in ck.existing_checkpoints(out))
    assert np.array_equal(newest.rows("tallies", (6, 5))[[0, 1, 3, 5]], rows[[0, 1, 3, 5]])
    assert not newest.rows("tallies", (6, 5))[[2, 4]].any()
    assert older.sequence == 2 and not older.rows("tallies", (6, 5))[[1, 5]].any()
    orphan = ck.checkpoint_dir(out) / "seg-tallies-000009.h5"  # as if killed before its checkpoint was in place
    orphan.write_bytes(b"x")
    done = np.ones(6, dtype=np.uint8)
    ck.write_checkpoint(out, 2, HEADER, 4, ck.Snapshot("running", {}, {"done": done}, {"tallies": (rows, "done")}),
                        ledger)
    assert not orphan.exists()
    assert len(ck.existing_segments(ck.checkpoint_dir(out))) == 4  # the newest lists them all


def test_rows_are_append_only(tmp_path):
    ledger = ck.RowLedger()
    ck.write_checkpoint(tmp_path / "r.h5", 2, HEADER, 0, _snapshot([0, 1])[0], ledger)
    with pytest.raises(ValueError, match="append-only"):
        ck.write_checkpoint(tmp_path / "r.h5", 2, HEADER, 1, _snapshot([0])[0], ledger)


def test_a_writer_continuing_a_checkpoint_lists_its_segments(tmp_path):
    out = tmp_path / "r.h5"
    snapshot, rows = _snapshot([0, 2])
    first = ck.read_checkpoint(ck.write_checkpoint(out, 2, HEADER, 0, snapshot))
    with ck.CheckpointWriter(out, HEADER, mode="sync", first_sequence=1, ledger=first.ledger()) as writer:
        writer.save(_snapshot([0, 2, 4])[0])
    back = ck.read_checkpoint(ck.checkpoint_path(out))
    assert [ref.file for ref in back.segments["tallies"][1]] == ["seg-tallies-000000.h5", "seg-tallies-000001.h5"]
    assert np.array_equal(back.rows("tallies", (6, 5))[[0, 2, 4]], rows[[0, 2, 4]])


def test_latest_skips_a_damaged_newest_file(tmp_path, caplog):
    out = tmp_path / "r.h5"
    for sequence in (1, 2):
        ck.write_checkpoint(out, 2, HEADER, sequence, _snapshot([sequence])[0])
    os.truncate(ck.checkpoint_path(out), 100)
    with caplog.at_level(logging.WARNING):
        chosen = ck.latest_checkpoint(out)
    assert chosen.sequence == 1 and chosen.path == ck.checkpoint_path(out, 1)
    assert "skipping" in caplog.text
    with pytest.raises(ck.CheckpointFileError):  # named explicitly, a damaged file is refused
        ck.latest_checkpoint(ck.checkpoint_path(out))


def test_disk_full_keeps_the_previous_checkpoint(tmp_path):
    out = tmp_path / "r.h5"
    ck.write_checkpoint(out, 2, HEADER, 1, _snapshot([0])[0])
    tmp = tmp_path / "r.h5.ckpt" / "checkpoint.h5.tmp"
    tmp.symlink_to("/dev/full")  # every write to the temporary file fails with ENOSPC
    with pytest.raises(ck.CheckpointError, match="No space left on device.*previous checkpoint .* is intact"):
        ck.write_checkpoint(out, 2, HEADER, 2, _snapshot([0, 1])[0])
    assert not tmp.exists() and not tmp.is_symlink()
    assert ck.read_checkpoint(ck.checkpoint_path(out)).sequence == 1
    assert ck.existing_checkpoints(out) == [ck.checkpoint_path(out)]


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs sysfs")
def test_unwritable_location_keeps_the_previous_checkpoint(tmp_path):
    out = tmp_path / "r.h5"
    ck.write_checkpoint(out, 2, HEADER, 1, _snapshot([0])[0])
    # sysfs refuses to create files, even for root: the temporary file cannot be created,
    # as in a read-only directory
    (tmp_path / "r.h5.ckpt" / "checkpoint.h5.tmp").symlink_to("/sys/kernel/simcore-test.tmp")
    with pytest.raises(ck.CheckpointError, match="checkpoint 2 not written to .*: Permission denied .*; the previous"):
        ck.write_checkpoint(out, 2, HEADER, 2, _snapshot([0, 1])[0])
    assert ck.read_checkpoint(ck.checkpoint_path(out)).sequence == 1


def test_a_refusing_disk_is_one_warning_and_the_next_checkpoint_tries_again_and_says_it_landed(tmp_path, caplog):
    out = tmp_path / "r.h5"
    with ck.CheckpointWriter(out, HEADER, mode="async") as writer:
        writer.save(_snapshot([0])[0])
        writer.close()
        (tmp_path / "r.h5.ckpt" / "checkpoint.h5.tmp").symlink_to("/dev/full")
    writer = ck.CheckpointWriter(out, HEADER, mode="async", first_sequence=1)
    with caplog.at_level(logging.WARNING):
        writer.save(_snapshot([0, 1])[0])  # refused: ENOSPC
        writer.save(_snapshot([0, 1, 2])[0])  # the failed write removed the temporary file: this one lands
        writer.close()
    writer.raise_if_failed()  # the disk is no bug: nothing to raise
    refused, landed = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert landed == f"checkpoint 1 written to {out}.ckpt/checkpoint.h5 after 1 refused"
    assert ("checkpoint 1 not written to" in refused and "No space left on device" in refused
            and "free)" in refused and "the previous checkpoint" in refused and "is intact" in refused)
    assert writer.stats.failed == 1 and writer.stats.written == 1
    back = ck.read_checkpoint(ck.checkpoint_path(out))
    assert back.sequence == 1 and back.counters == {"partitions_done": 3}
    assert not (tmp_path / "r.h5.ckpt" / "checkpoint.h5.tmp").is_symlink()


def test_full_queue_applies_back_pressure_and_logs_it(tmp_path, monkeypatch, caplog):
    real = ck.write_checkpoint

    def slow(*args):
        time.sleep(0.3)
        return real(*args)

    monkeypatch.setattr(ck, "write_checkpoint", slow)
    out = tmp_path / "r.h5"
    with caplog.at_level(logging.WARNING, logger="simcore.checkpoint"):
        with ck.CheckpointWriter(out, HEADER, mode="async", keep=5) as writer:
            for sequence in range(5):
                writer.save(_snapshot(range(sequence + 1))[0])
    assert "checkpoint queue full" in caplog.text and "back-pressure" in caplog.text
    assert writer.stats.written == 5
    assert [ck.read_checkpoint(p).sequence for p in ck.existing_checkpoints(out)] == [4, 3, 2, 1, 0]


def test_sync_writer_writes_before_returning(tmp_path):
    out = tmp_path / "r.h5"
    writer = ck.CheckpointWriter(out, HEADER, mode="sync")
    writer.save(_snapshot([2])[0])
    assert ck.read_checkpoint(ck.checkpoint_path(out)).counters == {"partitions_done": 1}
    writer.close()


def test_results_path_of_checkpoint_names():
    assert ck.results_path_of("a/x.h5.ckpt") == ck.results_path_of("a/x.h5.ckpt/checkpoint.3.h5") == ck.Path("a/x.h5")
    assert ck.results_path_of("a/x.h5.ckpt.3") == ck.Path("a/x.h5")  # simcore before the directory
    assert ck.results_path_of("a/x.h5") == ck.Path("a/x.h5")


def test_the_first_checkpoint_makes_the_directory_whole_and_a_kill_before_it_leaves_nothing_in_its_place(tmp_path):
    out = tmp_path / "r.h5"
    staging = tmp_path / "r.h5.ckpt.new"
    staging.mkdir()  # as a run killed while writing its first checkpoint leaves it
    (staging / "checkpoint.h5.tmp").write_bytes(b"half")
    assert ck.existing_checkpoints(out) == []
    ck.write_checkpoint(out, 2, HEADER, 0, _snapshot([1])[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5.ckpt"]
    assert sorted(p.name for p in ck.checkpoint_dir(out).iterdir()) == ["checkpoint.h5", "seg-tallies-000000.h5"]


def test_checkpoints_of_simcore_before_the_directory_move_into_it_and_resume(tmp_path):
    """The old layout, x.h5.ckpt, x.h5.ckpt.1, x.h5.ckpt.seg-tallies-N beside the results, made by hand."""
    from simcore.ckptdir import migrate_legacy

    out = tmp_path / "r.h5"
    for sequence in (0, 1):
        ck.write_checkpoint(out, 2, HEADER, sequence, _snapshot([0, sequence + 2])[0])
    directory = ck.checkpoint_dir(out)
    legacy = {"checkpoint.h5": "r.h5.ckpt", "checkpoint.1.h5": "r.h5.ckpt.1"}
    for segment in ck.existing_segments(directory):  # old segment names, and old names in the listings
        segment.rename(tmp_path / f"r.h5.ckpt.{segment.name[:-3]}")
        for name in legacy:
            with h5py.File(directory / name, "r+") as handle:
                names = [n.decode() for n in handle["rows/tallies/segments"][()]]
                del handle["rows/tallies/segments"]
                handle["rows/tallies/segments"] = np.array(
                    [(f"r.h5.ckpt.{n[:-3]}" if n == segment.name else n).encode() for n in names], dtype="S")
    for new, old in legacy.items():
        (directory / new).rename(tmp_path / f"{old}.moving")
    directory.rmdir()
    for old in legacy.values():
        (tmp_path / f"{old}.moving").rename(tmp_path / old)
    assert [p.name for p in ck.existing_checkpoints(out)] == ["r.h5.ckpt", "r.h5.ckpt.1"]
    assert ck.latest_checkpoint(out).sequence == 1  # read where it lies
    assert migrate_legacy(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5.ckpt"]
    moved = ck.latest_checkpoint(out)
    assert moved.sequence == 1 and moved.path == ck.checkpoint_path(out)
    assert moved.rows("tallies", (6, 5))[[0, 3]].all()


def test_every_seconds_trigger():
    trigger = ck.EverySeconds(0.05)
    assert not trigger.due()
    time.sleep(0.06)
    assert trigger.due()
    trigger.reset()
    assert not trigger.due()
    assert trigger == ck.EverySeconds(0.05) and repr(trigger) == "EverySeconds(0.05)"
