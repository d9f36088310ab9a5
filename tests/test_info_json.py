"""``simcore info --json``: one schema (README "simcore info --json") for a run, a sweep, an interrupted run and a
resumed one, with the provenance of every leg."""
import json
import signal
import time

import pytest

#: The README's schema: key -> type(s) of its value, for every file.
COMMON = {"file": str, "filetype": str, "format_version": str, "kind": str, "model": str, "status": str,
          "seed": int, "partitions": int, "parameters": dict, "wall_seconds": float, "simcore_version": str,
          "simcore_git_commit": (str, type(None)), "simcore_git_dirty": (bool, type(None)), "created": str,
          "legs": list, "config_sha256": str}
RESULTS = {**COMMON, "workers": int, "executor": str, "host": str, "command": str, "results": dict,
           "until": (dict, type(None)), "checkpoints": list}
CHECKPOINT = {**COMMON, "progress": str, "sequence": int, "counters": dict, "settings": dict, "results_path": str,
              "continue_with": (str, type(None)), "checkpoints": list}
LEG = {"start": str, "end": str, "seconds": float, "workers": int, "executor": str, "host": str, "command": str,
       "ended": str}
RESULT = {"mean": float, "stderr": float, "n": int, "units": str, "description": str,
          "autocorrelation_time": (float, type(None))}


def _conforms(value: dict, schema: dict) -> None:
    assert set(value) == set(schema), set(value) ^ set(schema)
    for key, kind in schema.items():
        assert isinstance(value[key], kind), (key, value[key])


def _info(cli, path: str) -> dict:
    shown = cli("info", path, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _legs_conform(info: dict) -> None:
    for leg in info["legs"]:
        _conforms(leg, LEG)
    assert info["wall_seconds"] == pytest.approx(sum(leg["seconds"] for leg in info["legs"]))


def test_a_plain_run(cli):
    command = ("run", "transport", "--set", "histories=20000", "--set", "thickness=2", "--out", "t.h5", "--quiet")
    assert cli(*command).returncode == 0
    info = _info(cli, "t.h5")
    _conforms(info, RESULTS)
    _legs_conform(info)
    assert info["kind"] == "run" and info["status"] == "finished" and info["parameters"]["thickness"] == 2.0
    assert info["command"] == "simcore " + " ".join(command) and len(info["legs"]) == 1
    for value in info["results"].values():
        _conforms(value, RESULT)
    assert info["results"]["reflection"]["description"]


def test_a_sweep_lists_every_point(cli):
    assert cli("sweep", "pi", "--param", "samples=1000,2000,4000", "--executor", "serial", "--out", "s.h5",
               "--quiet").returncode == 0
    info = _info(cli, "s.h5")
    _conforms(info, {**RESULTS, "points": list})
    assert info["kind"] == "sweep" and info["model"] == "pi" and info["parameters"]["grid"] == {
        "samples": [1000, 2000, 4000]}
    assert [point["parameters"] for point in info["points"]] == [{"samples": n} for n in (1000, 2000, 4000)]
    for point in info["points"]:
        assert set(point["results"]) == {"pi"} and 0 < point["results"]["pi"]["stderr"] < 1


def test_an_interrupted_run_then_its_resumed_leg(cli):
    proc = cli.start("run", "pi", "--set", "samples=1e9", "--set", "partitions=100", "--workers", "2",
                     "--checkpoint-every", "0.3", "--out", "p.h5")
    deadline = time.monotonic() + 60
    while not (cli.cwd / "p.h5.ckpt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    interrupted = _info(cli, "p.h5")
    _conforms(interrupted, CHECKPOINT)
    _legs_conform(interrupted)
    assert interrupted["status"] == "interrupted" and interrupted["progress"].startswith("interrupted, resumable with")
    assert [leg["ended"] for leg in interrupted["legs"]] == ["interrupted"]
    assert interrupted["continue_with"] == "simcore resume p.h5.ckpt"

    done = cli("resume", "p.h5", "--workers", "1", "--quiet", timeout=600)
    assert done.returncode == 0, done.stderr
    resumed = _info(cli, "p.h5")
    _conforms(resumed, RESULTS)
    _legs_conform(resumed)
    first, second = resumed["legs"]
    assert (first["ended"], second["ended"]) == ("interrupted", "finished")
    assert first["command"].startswith("simcore run pi --set samples=1e9")
    assert second["command"] == "simcore resume p.h5 --workers 1 --quiet"
    assert (first["workers"], second["workers"]) == (2, 1) and resumed["workers"] == 1
    assert resumed["command"] == first["command"] and first["end"] <= second["start"]
