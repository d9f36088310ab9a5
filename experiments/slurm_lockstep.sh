#!/bin/bash
# One large lockstep run (the 2D Ising model, L = 65536 by default) across the nodes of a Slurm allocation.
#
# Every rank computes: rank r holds only its block of lattice rows and one halo row on either side
# (L = 65536 is 4 GiB of spins: 32 MiB a rank on 128 ranks), and exchanges the halo rows with its two
# neighbouring ranks before each checkerboard colour.  Rank 0 also runs simcore: it writes the
# checkpoints (every 2 minutes: the state gathered from the ranks) and the results, which are
# byte-identical to a run on one node's process pool with the same seed and partitions.  Submitted
# again after a time limit or a failure, the job resumes from the newest checkpoint, on any rank count.
# Two minutes before the time limit Slurm sends SIGUSR1 to this batch shell (--signal=B:USR1@120),
# which requeues the job (--requeue); a rank that dies ends the whole job, and the next start resumes
# from the newest periodic checkpoint.  Supported on MPI ranks: ising (2D, 3D) and nbody; lj needs
# one node's shared memory.
#
#   sbatch experiments/slurm_lockstep.sh              # OUT=ising.h5 by default
#   OUT=small.h5 L=64 SWEEPS=2000 SLURM_NTASKS=4 bash experiments/slurm_lockstep.sh   # outside Slurm
#   simcore info ising.h5
#
# Needs simcore with its MPI extra on every node: pip install -e '.[mpi]' (the mpich wheel),
# or mpi4py built on the cluster's own MPI (then launch with that MPI's mpiexec or srun).
#SBATCH --job-name=simcore-lockstep
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=32
#SBATCH --time=02:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
set -euo pipefail
trap 'echo "simcore-lockstep: the time limit is near; requeueing job ${SLURM_JOB_ID:-}"; scontrol requeue "${SLURM_JOB_ID:?}"' USR1

OUT=${OUT:-ising.h5}
if [ -e "$OUT.ckpt" ]; then
    command=(resume "$OUT")
else
    L=${L:-65536}
    command=(run ising --set "L=$L" --set "T=${T:-2.269}" --set "sweeps=${SWEEPS:-10000}" --set "thermalize=0"
             --set "partitions=${PARTITIONS:-${SLURM_NTASKS:-4}}" --checkpoint-every 120 --out "$OUT")
fi
# Every rank runs simcore (no mpi4py.futures): rank 0 the run, the others its rows.
mpiexec -n "${SLURM_NTASKS:-4}" python -m simcore "${command[@]}" --executor mpi --quiet &
wait $!  # in the background, so that the USR1 trap runs as soon as the signal comes
