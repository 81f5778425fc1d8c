#!/usr/bin/env bash
# One NSD subject from the release as downloaded to report.html, one stage after another on this machine
# (docs/nsd.md). Every stage is skipped when its done-marker WORK/.done/STAGE exists, and the long ones continue
# an interrupted run (features/reconstruct --resume, train/generator train --resume): rerun the same command after
# a crash or Ctrl+C and it goes on where it stopped.
#
#   scripts/nsd/run-local.sh --nsd-root R --subject N --work W [options]
#
#   --clip DIR         Hugging Face CLIP vision folder (the paper: openai/clip-vit-large-patch14). Default: a
#                      random-weight tiny CLIP from clip-init (rehearsal only: its numbers mean nothing).
#   --generator DIR    Versatile Diffusion folder (image_unet/, vae/, scheduler/). Default: train the small
#                      pixel-space generator on the training images (generator train; rehearsal-sized).
#   --nets DIR         Metric networks (docs/metrics-weights.md). Default: nets-init, RANDOM weights (labelled so).
#   --config NAME      train --config: paper (default) or tiny, tiny-recon, ridge, a .json.
#   --device D         cpu (default), cuda or cuda:N, passed to every computing stage.
#   --sessions K       nsd prepare --sessions (default: every session present; Brain-Diffuser used 37).
#   --epochs E         train --epochs (default: the config's).
#   --gen-steps S      generator train --steps when no --generator (default 300).
#   --recon-steps S    reconstruct --steps (default 20).
#   --guidance G       reconstruct --guidance (default: 3.5 with --generator, 1 for the small generator).
#   --limit L          reconstruct only the first L test images (default: all).
#   --batch B          features --batch (default 16).
#   --only LIST        run only these stages (comma list of prepare, clip-init, features-train, features-test,
#                      train, predict, retrieve, generator, reconstruct, nets-init, evaluate, report); submit.sh
#                      uses it to run the chain as SLURM jobs.
#   --metrics LIST     evaluate --metrics (default all); with nets-init only the networks these need are written.
# Environment: BRAINMCLIP (the CLI; default: the repository's ./brainmclip wrapper, built first if it is not).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo=$(cd "$here/../.." && pwd)
if [ -z "${BRAINMCLIP:-}" ]; then
    BRAINMCLIP=$repo/brainmclip
    # From a clean clone the one command builds the CLI first (the wrapper runs the newer of Release and Debug).
    if [ ! -x "$repo/src/BrainMClip.Cli/bin/Release/net10.0/brainmclip" ] &&
        [ ! -x "$repo/src/BrainMClip.Cli/bin/Debug/net10.0/brainmclip" ]; then
        echo "== build: dotnet build src/BrainMClip.Cli -c Release" >&2
        dotnet build "$repo/src/BrainMClip.Cli" -c Release -nologo -v q -clp:ErrorsOnly >&2
    fi
fi

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
root="" subject="" work="" clip="" generator="" nets="" config=paper device=cpu sessions="" epochs=""
gen_steps=300 recon_steps=20 guidance="" limit="" batch=16 metrics=all only=""
while [ $# -gt 0 ]; do
    case "$1" in -h|--help) usage ;; esac
    [ $# -ge 2 ] || { echo "run-local.sh: $1 needs a value" >&2; exit 2; }
    case "$1" in
        --nsd-root) root=$2 ;; --subject) subject=$2 ;; --work) work=$2 ;; --clip) clip=$2 ;;
        --generator) generator=$2 ;; --nets) nets=$2 ;; --config) config=$2 ;; --device) device=$2 ;;
        --sessions) sessions=$2 ;; --epochs) epochs=$2 ;; --gen-steps) gen_steps=$2 ;;
        --recon-steps) recon_steps=$2 ;; --guidance) guidance=$2 ;; --limit) limit=$2 ;; --batch) batch=$2 ;;
        --metrics) metrics=$2 ;; --only) only=$2 ;;
        -h|--help) usage ;;
        *) echo "run-local.sh: unknown option '$1'" >&2; usage ;;
    esac
    shift 2
done
if [ -z "$root" ] || [ -z "$subject" ] || [ -z "$work" ]; then
    echo "run-local.sh: --nsd-root, --subject and --work are required" >&2; usage
fi

mkdir -p "$work/.done"
work=$(cd "$work" && pwd)
data=$work/data
sub=$data/processed_data/subj0$subject
stimuli=$root/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5:imgBrick
test_stim=$sub/nsd_test_stim_sub$subject.npy
train_stim=$sub/nsd_train_stim_sub$subject.npy
log=$work/chain.log

# stage NAME CMD...: skip when done, else run (echoed, timed into WORK/timings.tsv) and mark done on success.
stage() {
    local name=$1; shift
    if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then return 0; fi
    if [ -e "$work/.done/$name" ]; then echo "== $name: done, skipped" | tee -a "$log" >&2; return 0; fi
    echo "== $name: $*" | tee -a "$log" >&2
    local t0=$EPOCHREALTIME
    "$@"
    awk -v n="$name" -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%s\t%.1f\n", n, b - a }' \
        >> "$work/timings.tsv"
    touch "$work/.done/$name"
}
bm() { "$BRAINMCLIP" "$@"; }
# A command whose stdout (JSON) is the stage's output file, written atomically.
bm_to() { local out=$1; shift; "$BRAINMCLIP" "$@" > "$out.tmp" && mv "$out.tmp" "$out"; }
resume_if() { [ -e "$1" ] && echo --resume || true; }

stage prepare bm nsd prepare --nsd-root "$root" --subject "$subject" --out "$data" --force \
    ${sessions:+--sessions "$sessions"}

if [ -z "$clip" ]; then
    clip=$work/clip
    stage clip-init bm clip-init --out "$clip" --preset tiny --seed 0
fi

mkdir -p "$work/features"
for split in train test; do
    stage "features-$split" bm features --clip "$clip" --input "$stimuli" \
        --rows "$sub/nsd_${split}_nsdid_sub$subject.npy" --out "$work/features/$split.safetensors" \
        --batch "$batch" --dtype float16 --device "$device" --resume
done

stage train bm train --data "$data" --subject "$subject" --features "$work/features/train.safetensors" \
    --config "$config" --out "$work/run" --device "$device" ${epochs:+--epochs "$epochs"} \
    $(resume_if "$work/run/checkpoints/last.ckpt")
stage predict bm predict --run "$work/run" --data "$data" --subject "$subject" --split test \
    --out "$work/run/pred_test.safetensors" --device "$device"
stage retrieve bm_to "$work/retrieval.json" retrieve --pred "$work/run/pred_test.safetensors" \
    --features "$work/features/test.safetensors" --device "$device"

if [ -z "$generator" ]; then
    generator=$work/generator
    guidance=${guidance:-1}
    stage generator bm generator train --images "$train_stim" --features "$work/features/train.safetensors" \
        --out "$generator" --steps "$gen_steps" --batch 8 --attention-resolution 8 --prediction sample \
        --context-map --context-map-shuffle 4 --device "$device" $(resume_if "$generator/train-state")
fi

stage reconstruct bm reconstruct --pred "$work/run/pred_test.safetensors" --generator "$generator" \
    --out "$work/recon" --steps "$recon_steps" --guidance "${guidance:-3.5}" --device "$device" --resume \
    --restandardize "$work/features/train.safetensors" ${limit:+--limit "$limit"}

if [ -z "$nets" ]; then
    nets=$work/nets
    networks=""
    if [ "$metrics" != all ]; then
        for m in ${metrics//,/ }; do
            case "$m" in
                alexnet2|alexnet5) networks+=,alexnet ;; inception) networks+=,inception_v3 ;;
                efficientnet) networks+=,efficientnet_b1 ;; swav) networks+=,resnet50 ;;
            esac
        done
        networks=$(echo "${networks#,}" | tr ',' '\n' | sort -u | paste -sd, -)
    fi
    stage nets-init bm nets-init --out "$nets" --clip "$clip" ${networks:+--networks "$networks"}
fi
mkdir -p "$work/eval"
stage evaluate bm_to "$work/eval/means.json" evaluate --recons "$work/recon" --truth "$test_stim" --nets "$nets" \
    --out "$work/eval/METRICS.json" --truth-cache "$work/eval/truth-features.safetensors" \
    --metrics "$metrics" --device "$device"

stage report bm report --out "$work/report.html" --run "$work/run" --metrics "$work/eval/METRICS.json" \
    --retrieval "$work/retrieval.json" --recons "$work/recon" --truth "$test_stim" --data "$data" \
    --title "BrainMClip on NSD subject $subject ($config)"
echo "report: $work/report.html" >&2
