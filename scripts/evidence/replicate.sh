#!/usr/bin/env bash
# The preregistered replication (docs/evidence/preregistration.md): five fresh subjects whose world seeds follow from
# the hash of the commit that added the preregistration, each trained with the frozen presets and matched baselines
# at 8,859 and 3,000 training samples, 3 seeds, two `study` processes at a time with one torch thread each.
# Resumable: re-run the same command and finished subjects, features and runs are skipped.
#
#   scripts/evidence/replicate.sh --work DIR [--workers 2] [--subjects 5] [--seeds-only]
#
# DIR/subjects.txt lists the seeds; DIR/s<seed>/ holds the subject (data/, ftr/fte features) and its studies
# (study_n8859/, study_n3000/); DIR/worker<k>.log the progress. Collect finished studies into the docs with
# `brainmclip evidence collect`.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=""; workers=2; subjects=5; seeds_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2;;
    --workers) workers="$2"; shift 2;;
    --subjects) subjects="$2"; shift 2;;
    --seeds-only) seeds_only=1; shift;;
    -h|--help) sed -n '2,12p' "$0"; exit 0;;
    *) echo "replicate.sh: unknown argument '$1' (see --help)" >&2; exit 2;;
  esac
done
prereg=docs/evidence/preregistration.md
commit=$(git log --diff-filter=A --format=%H -- "$prereg" | tail -n 1)
[ -n "$commit" ] || { echo "replicate.sh: $prereg is not committed; the seeds follow from its commit" >&2; exit 2; }

# s_i = first 8 hex digits of SHA-256("C:i") mod 1,000,000; values below 100 and repeats are skipped.
seeds=(); i=1
while [ ${#seeds[@]} -lt "$subjects" ]; do
  h=$(printf '%s' "$commit:$i" | sha256sum | cut -c1-8); s=$(( 16#$h % 1000000 )); i=$((i + 1))
  [ "$s" -lt 100 ] && continue
  [[ " ${seeds[*]} " == *" $s "* ]] && continue
  seeds+=("$s")
done
if [ "$seeds_only" = 1 ]; then printf '%s\n' "${seeds[@]}"; exit 0; fi
[ -n "$work" ] || { echo "replicate.sh: --work DIR is required" >&2; exit 2; }
mkdir -p "$work"
printf '%s\n' "${seeds[@]}" > "$work/subjects.txt"
B="$(pwd)/brainmclip"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

prepare() {  # synth + features of one subject, once (a lock keeps two workers from doing it twice)
  local s=$1 d="$work/s$1"
  mkdir -p "$d"
  exec 9>"$d/.prepare.lock"; flock 9
  if [ ! -f "$d/data/.complete" ]; then
    rm -rf "$d/data"
    "$B" synth --world hierarchical --seed "$s" --train 8859 --test 3000 --out "$d/data" > "$d/synth.json"
    touch "$d/data/.complete"
  fi
  for split in train test; do
    local f="$d/f${split:0:2}.safetensors"
    [ -f "$f" ] || "$B" features --clip assets/encoders/world-tiny --batch 32 --resume \
      --input "$d/data/processed_data/subj01/nsd_${split}_stim_sub1.npy" --out "$f" > /dev/null
  done
  flock -u 9
}

study() {  # one subject at one size; `study` resumes an interrupted plan
  local s=$1 n=$2 d="$work/s$1"
  prepare "$s"
  "$B" study --data "$d/data" --features-train "$d/ftr.safetensors" --features-test "$d/fte.safetensors" \
    --out "$d/study_n$n" --config tiny --sizes "$n" --seeds 3 --ablations none \
    --baselines ridge_retrieval_alpha,linear,no_split,ridge_no_split --threads 1 > "$d/study_n$n.json"
}

jobs=()
for s in "${seeds[@]}"; do jobs+=("$s 8859"); done   # the primary size first, for every subject
for s in "${seeds[@]}"; do jobs+=("$s 3000"); done
worker() {
  local k=$1 j
  for ((j = k; j < ${#jobs[@]}; j += workers)); do
    echo "$(date -u +%FT%TZ) worker $k: subject ${jobs[$j]% *}, n ${jobs[$j]#* }"
    study ${jobs[$j]} || echo "$(date -u +%FT%TZ) worker $k: FAILED ${jobs[$j]} (re-run to resume)"
  done
  echo "$(date -u +%FT%TZ) worker $k: done"
}
echo "replication: subjects ${seeds[*]} (from $commit); $workers workers; logs in $work/worker*.log" >&2
for ((k = 0; k < workers; k++)); do worker "$k" > "$work/worker$k.log" 2>&1 & done
wait
