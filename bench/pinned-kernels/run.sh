#!/usr/bin/env bash
# What the CPU-independent kernel mode costs (docs/reliability.md, "Bitwise across CPUs"): `train --config tiny` on a
# small synthetic subject, one thread, in LibTorch's default mode and with MKL_CBWR=COMPATIBLE,
# ATEN_CPU_CAPABILITY=default, ONEDNN_MAX_CPU_ISA=SSE41; also `features` over its images. Writes
# bench/pinned-kernels/results.json (wall seconds per mode and the ratio), the source of docs/performance.md's
# statement.
#
#   bench/pinned-kernels/run.sh [--train N] [--epochs E] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=600; epochs=4; out=bench/pinned-kernels/results.json
while [ $# -gt 0 ]; do
  case "$1" in
    --train) n="$2"; shift 2;;
    --epochs) epochs="$2"; shift 2;;
    --out) out="$2"; shift 2;;
    -h|--help) sed -n '2,9p' "$0"; exit 0;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2;;
  esac
done
./brainmclip --version > /dev/null   # builds the CLI once
B=(dotnet src/BrainMClip.Cli/bin/Release/net10.0/brainmclip.dll)
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
"${B[@]}" synth --out "$w/data" --seed 5 --train "$n" --test 50 > /dev/null 2>&1
"${B[@]}" clip-init --out "$w/clip" --preset tiny --seed 1 > /dev/null
printf '{"base":"tiny","training":{"epochs":%d}}' "$epochs" > "$w/cfg.json"
stim="$w/data/processed_data/subj01/nsd_train_stim_sub1.npy"
secs() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N); awk "BEGIN{printf \"%.2f\", $t1 - $t0}"; }
ratio() { awk "BEGIN{printf \"%.3f\", $1 / $2}"; }
declare -A T
for mode in default pinned; do
  env=()
  [ "$mode" = pinned ] && env=(MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41)
  T[$mode.features]=$(secs env "${env[@]}" "${B[@]}" features --clip "$w/clip" --input "$stim" --out "$w/ft_$mode.safetensors")
  T[$mode.train]=$(secs env "${env[@]}" "${B[@]}" train --data "$w/data" --features "$w/ft_$mode.safetensors" \
    --config "$w/cfg.json" --out "$w/run_$mode" --threads 1)
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mkdir -p "$(dirname "$out")"
cat > "$out.tmp" <<JSON
{
  "what": "wall seconds, one thread: features over $n images (tiny CLIP) and train --config tiny, $epochs epochs, $n samples",
  "cpu": "$cpu",
  "commit": "$(git rev-parse --short HEAD)",
  "default": {"features_s": ${T[default.features]}, "train_s": ${T[default.train]}},
  "pinned": {"features_s": ${T[pinned.features]}, "train_s": ${T[pinned.train]}},
  "pinned_over_default": {"features": $(ratio "${T[pinned.features]}" "${T[default.features]}"), "train": $(ratio "${T[pinned.train]}" "${T[default.train]}")}
}
JSON
mv "$out.tmp" "$out"
cat "$out"
