#!/usr/bin/env bash
# The NSD chain of run-local.sh as SLURM jobs chained with --dependency=afterok (docs/nsd.md):
#   prepare (+clip-init) → features train / test (array jobs of scripts/slurm/features.sbatch, float16, each
#   followed by merge-features.sbatch) → train+predict+retrieve and, without --generator, generator train →
#   reconstruct (array job of scripts/slurm/reconstruct.sbatch) → nets-init+evaluate+report.
# The features, train, generator, reconstruct and evaluate jobs ask for one GPU (--gres=gpu:1); pass --device cuda
# so that they use it (the default --device cpu runs them on the CPU). Stages whose done-marker WORK/.done/STAGE
# exists are skipped by the job (resubmit the same command after a failure; a finished array is not resubmitted).
#
#   scripts/nsd/submit.sh --nsd-root R --subject N --work W [run-local.sh options] \
#       [--feature-shards 16] [--recon-shards 8] [--sbatch-args "--account=X --partition=Y"]
# Prints the job ids, one per line. Environment: BRAINMCLIP (the CLI on the compute nodes; default: the
# repository's ./brainmclip), SBATCH (default sbatch).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
slurm=$(cd "$here/../slurm" && pwd)
export BRAINMCLIP=${BRAINMCLIP:-$(cd "$here/../.." && pwd)/brainmclip}
export BRAINMCLIP_SLURM_DIR=$slurm
SBATCH=${SBATCH:-sbatch}

args=() root="" subject="" work="" clip="" generator="" device=cpu batch=16 recon_steps=20 guidance="" limit=""
feature_shards=16 recon_shards=8 extra_sbatch=""
while [ $# -gt 0 ]; do
    case "$1" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;; esac
    [ $# -ge 2 ] || { echo "submit.sh: $1 needs a value" >&2; exit 2; }
    case "$1" in
        --feature-shards) feature_shards=$2; shift 2; continue ;;
        --recon-shards) recon_shards=$2; shift 2; continue ;;
        --sbatch-args) extra_sbatch=$2; shift 2; continue ;;
        --nsd-root) root=$2 ;; --subject) subject=$2 ;; --work) work=$2 ;; --clip) clip=$2 ;;
        --generator) generator=$2 ;; --device) device=$2 ;; --batch) batch=$2 ;;
        --recon-steps) recon_steps=$2 ;; --guidance) guidance=$2 ;; --limit) limit=$2 ;;
        --only) echo "submit.sh: --only is chosen per job" >&2; exit 2 ;;
    esac
    args+=("$1" "$2"); shift 2
done
if [ -z "$root" ] || [ -z "$subject" ] || [ -z "$work" ]; then
    echo "submit.sh: --nsd-root, --subject and --work are required" >&2; exit 2
fi
mkdir -p "$work/.done" "$work/logs"
work=$(cd "$work" && pwd)
args+=(--work "$work")
sub=$work/data/processed_data/subj0$subject
clip=${clip:-$work/clip}
gpu=(--gres=gpu:1)

# job NAME DEPENDENCY-IDS SBATCH-OPTIONS... -- COMMAND...: submit, print and return the id in $id.
job() {
    local name=$1 deps=$2; shift 2
    local opts=() ; while [ "$1" != -- ]; do opts+=("$1"); shift; done; shift
    local dep=(); [ -n "$deps" ] && dep=(--dependency=afterok:"$deps")
    # shellcheck disable=SC2206  # user's extra sbatch options, word-split
    local extra=($extra_sbatch)
    id=$("$SBATCH" --parsable --job-name="nsd-$name" --output="$work/logs/$name-%A_%a.log" --export=ALL \
        "${dep[@]}" "${extra[@]}" "${opts[@]}" "$@")
    id=${id%%;*}
    echo "$id"
}
runner() { printf '%q ' "$here/run-local.sh" "${args[@]}" --only "$1"; }
done_() { [ -e "$work/.done/$1" ]; }

job prepare "" --cpus-per-task=4 --mem=16G --time=04:00:00 -- --wrap "$(runner prepare,clip-init)"
prep=$id

feats=""
for split in train test; do
    done_ "features-$split" && continue
    out=$work/features/$split.safetensors
    CLIP=$clip IMAGES=$root/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5:imgBrick OUT=$out BATCH=$batch \
        DEVICE=$device EXTRA="--rows $sub/nsd_${split}_nsdid_sub$subject.npy --dtype float16" \
        job "features-$split" "$prep" --array=0-$((feature_shards - 1)) "${gpu[@]}" -- "$slurm/features.sbatch"
    merge="bash $(printf '%q' "$slurm/merge-features.sbatch")"
    OUT=$out job "merge-$split" "$id" --cpus-per-task=1 --mem=8G --time=01:00:00 -- \
        --wrap "$merge && touch $(printf '%q' "$work/.done/features-$split")"
    feats+=${feats:+:}$id
done
feats=${feats:-$prep}

job train "$feats" "${gpu[@]}" --cpus-per-task=8 --mem=32G --time=12:00:00 -- \
    --wrap "$(runner train,predict,retrieve)"
recon_deps=$id
if [ -z "$generator" ]; then
    job generator "$feats" "${gpu[@]}" --cpus-per-task=8 --mem=16G --time=12:00:00 -- --wrap "$(runner generator)"
    recon_deps+=:$id
    generator=$work/generator
    guidance=${guidance:-1}
fi

last=$recon_deps
if ! done_ reconstruct; then
    PRED=$work/run/pred_test.safetensors GENERATOR=$generator RECON=$work/recon STEPS=$recon_steps DEVICE=$device \
        RESTANDARDIZE=$work/features/train.safetensors EXTRA="--guidance ${guidance:-3.5} ${limit:+--limit $limit}" \
        job reconstruct "$recon_deps" --array=0-$((recon_shards - 1)) "${gpu[@]}" -- "$slurm/reconstruct.sbatch"
    last=$id
fi
job evaluate "$last" "${gpu[@]}" --cpus-per-task=8 --mem=32G --time=04:00:00 -- \
    --wrap "touch $(printf '%q' "$work/.done/reconstruct") && $(runner nets-init,evaluate,report)"
