#!/bin/bash
# The multi-core figures of BENCHMARKS.md ("16-core device machine"), in one command that ends within
# about 10 minutes on 16 cores: driver scaling 1..16 workers (batch, Ising L=4096, LJ 256k atoms, and
# the batch driver, Ising and LJ on 1..16 MPI ranks where mpi4py can start), threads versus processes 1..16, and the kernels.
#
#   OUT=/some/dir bash experiments/device_run.sh      # from the repository root
#
# simcore runs from the source tree (PYTHONPATH), so the machine needs only its own python3 with
# numpy, numba, h5py, scipy, matplotlib, tqdm and pytest-benchmark. Each stage has its own time
# limit, and its output is kept in $OUT even when a stage is cut short.
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-device-out}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
{ nproc; lscpu; "$PYTHON" -c "import numba, numpy, sys; print(sys.version, numpy.__version__, numba.__version__)"; } \
    > "$OUT/machine.txt" 2>&1
studies=batch,ising,lj
if "$PYTHON" -c "from mpi4py.futures import MPIPoolExecutor" 2>/dev/null; then
    studies=batch,mpi,ising,ising-mpi,lj,lj-mpi
fi
timeout 390 "$PYTHON" experiments/scaling.py --workers 1,2,4,8,16 --pi-darts 5e8 --ising-L 4096 --ising-sweeps 400 \
    --lj-cells 40 --lj-steps 100 --repeats 1 --studies "$studies" --outdir "$OUT" 2>&1 | tee "$OUT/scaling.txt"
timeout 150 "$PYTHON" experiments/threads_vs_processes.py --workers 1,2,4,8,16 --repeats 1 --outdir "$OUT" 2>&1 \
    | tee "$OUT/threads_vs_processes.txt"
timeout 60 "$PYTHON" -m pytest -q -p no:cacheprovider tests/benchmarks --benchmark-only 2>&1 | tee "$OUT/kernels.txt"
