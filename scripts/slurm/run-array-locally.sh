#!/usr/bin/env bash
# Runs the N tasks of an array job script one after another on this machine, with the variables SLURM would set
# (SLURM_ARRAY_TASK_ID, _COUNT, _MIN, _MAX, SLURM_ARRAY_JOB_ID). For trying a recipe on small inputs and for the
# test that checks a sharded run equals an unsharded one (tests/BrainMClip.Tests/ScaleOut/).
#   scripts/slurm/run-array-locally.sh N SCRIPT.sbatch      (the script's inputs come from the environment)
set -euo pipefail
if [ $# -ne 2 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then echo "usage: $0 N SCRIPT.sbatch" >&2; exit 2; fi
here="$(cd "$(dirname "$0")" && pwd)"
n=$1 script=$2
export BRAINMCLIP_SLURM_DIR="${BRAINMCLIP_SLURM_DIR:-$here}"
for ((i = 0; i < n; i++)); do
    echo "== task $i of $n: $script" >&2
    SLURM_ARRAY_JOB_ID=local SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=$n SLURM_ARRAY_TASK_MIN=0 \
        SLURM_ARRAY_TASK_MAX=$((n - 1)) bash "$script"
done
