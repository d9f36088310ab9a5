#!/bin/bash
# One long simcore run on one Slurm node that checkpoints before its time limit and requeues itself.
#
# Two minutes before the time limit Slurm sends SIGUSR1 to this batch shell (--signal=B:USR1@120),
# which passes it on to simcore; with --on-usr1 stop simcore writes a checkpoint at once and exits
# 138.  The script then requeues the job (--requeue), and the next start resumes from that
# checkpoint: the results are bitwise those of an uninterrupted run.  A cancellation (scancel:
# SIGTERM to every process of the job) also ends with a final checkpoint, exit 143.
#
#   sbatch experiments/slurm_run.sh                       # OUT=ising.h5, an L=4096 Ising run
#   OUT=lj.h5 RUN="lj --set cells=40 --set steps=200000" sbatch experiments/slurm_run.sh
#   simcore info ising.h5
#
# Exit codes (README "When things go wrong"): 0 done; 138 checkpointed for the time limit and
# requeued; 143/130/129 stopped by a signal with a final checkpoint; 74 the disk refused the
# results (free space, then 'simcore resume $OUT' or sbatch again); 1 a failure (see the log);
# 2 bad input.
#SBATCH --job-name=simcore-run
#SBATCH --nodes=1
#SBATCH --exclusive
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
set -uo pipefail

OUT=${OUT:-ising.h5}
read -r -a run <<< "${RUN:-ising --set L=4096 --set sweeps=1000000}"
if [ -e "$OUT" ]; then
    echo "simcore-run: $OUT is complete"
    exit 0
elif compgen -G "$OUT.ckpt*" > /dev/null; then
    command=(resume "$OUT")
else
    command=(run "${run[@]}" --out "$OUT")
fi
simcore "${command[@]}" --checkpoint-every "${CHECKPOINT_EVERY:-600}" --on-usr1 stop --quiet &
pid=$!
trap 'kill -USR1 "$pid" 2> /dev/null' USR1  # Slurm's warning: checkpoint now, then stop
trap 'kill -TERM "$pid" 2> /dev/null' TERM
while true; do  # wait returns early when a trapped signal arrives: wait again for simcore's own exit
    wait "$pid"
    status=$?
    kill -0 "$pid" 2> /dev/null || break
done
if [ "$status" -eq 138 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    echo "simcore-run: checkpointed before the time limit; requeueing job $SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
