#!/usr/bin/env bash
# Submits features.sbatch as an array of N tasks and merge-features.sbatch to run once all of them succeeded.
#   CLIP=... IMAGES=... OUT=... scripts/slurm/submit-features.sh [N=16]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
n=${1:-16}
export BRAINMCLIP_SLURM_DIR="$here"
array=$(sbatch --parsable --export=ALL --array=0-$((n - 1)) "$here/features.sbatch")
sbatch --parsable --export=ALL --dependency=afterok:"${array%%;*}" "$here/merge-features.sbatch"
