#!/bin/bash
# A temperature sweep of the 2D Ising model across the nodes of a Slurm allocation.
#
# Every point of the grid is one work unit, sent to an MPI rank (one rank per core); rank 0
# runs simcore: it hands out the points, writes checkpoints every 2 minutes and the results.
# Submitted again after a time limit or a failure, the job resumes from the newest checkpoint
# and the results are bitwise those of an uninterrupted run (same seed, same grid).  Two minutes
# before the time limit Slurm sends SIGUSR1 to this batch shell (--signal=B:USR1@120), which
# requeues the job itself (--requeue): the next start resumes.  On MPI a rank that dies ends the
# whole job, so the ranks get no chance of a final checkpoint: the sweep resumes from its newest
# periodic one (every 2 minutes here), which the requeue leaves intact.  A single-node run that
# checkpoints at the warning itself: experiments/slurm_run.sh.
#
#   sbatch experiments/slurm_sweep.sh              # OUT=binder.h5 by default
#   OUT=small.h5 L=8,16 T=2.0:2.5:3 SWEEPS=2000 sbatch experiments/slurm_sweep.sh
#   simcore info binder.h5 && simcore plot binder.h5 --result binder
#
# Needs simcore with its MPI extra on every node: pip install -e '.[mpi]' (the mpich wheel),
# or mpi4py built on the cluster's own MPI (then launch with that MPI's mpiexec or srun).
#SBATCH --job-name=simcore-sweep
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=32
#SBATCH --time=02:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
set -euo pipefail
trap 'echo "simcore-sweep: the time limit is near; requeueing job ${SLURM_JOB_ID:-}"; scontrol requeue "${SLURM_JOB_ID:?}"' USR1

OUT=${OUT:-binder.h5}
if [ -e "$OUT.ckpt" ]; then
    command=(resume "$OUT")
else
    command=(sweep ising --param "L=${L:-16,32,64}" --param "T=${T:-2.20:2.34:15}" --set "sweeps=${SWEEPS:-200000}"
             --set "thermalize=$(( ${SWEEPS:-200000} / 10 ))" --checkpoint-every 120 --out "$OUT")
fi
# Rank 0 runs simcore and the other SLURM_NTASKS - 1 ranks serve it (mpi4py.futures); with the
# mpich wheel, its mpiexec (Hydra) starts the ranks through Slurm.
mpiexec -n "${SLURM_NTASKS:-4}" python -m mpi4py.futures -m simcore "${command[@]}" --executor mpi --quiet &
wait $!  # in the background, so that the USR1 trap runs as soon as the signal comes
