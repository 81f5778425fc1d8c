# Shared by the scripts/slurm/*.sbatch files (sourced, not run).
# The array task of this job: SLURM sets SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (older releases only
# SLURM_ARRAY_TASK_MIN/MAX); run-array-locally.sh sets the same variables to run the tasks one after another.
task_id=${SLURM_ARRAY_TASK_ID:?"run as an array job (sbatch --array=0-N) or with scripts/slurm/run-array-locally.sh"}
task_count=${SLURM_ARRAY_TASK_COUNT:-$(( ${SLURM_ARRAY_TASK_MAX:?} - ${SLURM_ARRAY_TASK_MIN:-0} + 1 ))}
# BRAINMCLIP: the CLI to run (default: brainmclip on PATH, e.g. the repository's ./brainmclip wrapper).
BRAINMCLIP=${BRAINMCLIP:-brainmclip}
# One libtorch thread per allocated core, not per core of the node.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
# FILE.safetensors -> FILE.shard-i-of-n.safetensors
shard_path() { echo "${1%.safetensors}.shard-$2-of-$3.safetensors"; }
