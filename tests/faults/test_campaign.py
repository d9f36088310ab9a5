"""The fault campaign (``python -m simcore.testing.faults``): faults at random moments lose nothing.

The slow suite runs 40 cases (five of each kind); RELIABILITY.md records a
campaign of 200.  The default suite checks that the command runs and counts.
"""
import pytest

from simcore.testing import faults


@pytest.mark.slow
def test_a_campaign_of_40_faults_loses_nothing_and_says_each_in_one_line(tmp_path):
    outcomes = faults.run_campaign(40, seed=11, workdir=tmp_path, report=lambda line: None)
    figures = faults.summary(outcomes)
    found = [f"{o.kind} {o.workload} {o.detail}: {o.unclear + o.leaks}" for o in outcomes if not o.clean]
    assert figures["faults injected"] + figures["skipped"] == 40
    assert figures["data lost"] == 0 and figures["tracebacks"] == 0, found
    assert figures["unclear endings"] == 0 and figures["orphan processes"] == 0, found
    assert figures["leaked /dev/shm files"] == 0, found
    assert figures["finished byte-identical"] == figures["faults injected"]


def test_the_campaign_command_injects_counts_and_reports(tmp_path, capsys):
    code = faults.main(["--cases", "2", "--kinds", "crafted", "--seed", "4", "--workdir", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "faults injected          2" in printed and "data lost                0" in printed
    assert list(tmp_path.iterdir()) == []  # its temporary directory is gone
