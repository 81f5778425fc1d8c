#!/usr/bin/env bash
# Kill-and-resume check a user can run: starts a long brainmclip command, SIGKILLs it (kill -9) at seeded random
# moments, reruns it with --resume, and checks the final outputs are byte-identical to an uninterrupted run and that
# no partially written file sits under a final name.
#
#   scripts/kill-resume.sh [--kills N] [--seed S] [--work DIR] [features|train|reconstruct|all]
#
# Uses the built CLI (./brainmclip; build with `dotnet build src/BrainMClip.Cli -c Release`) and tiny sizes, so each
# command takes seconds. Exit 0 when every check passes, 1 otherwise.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cli="$here/brainmclip"
kills=3; seed=1; work=""; what="all"
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    features|train|reconstruct|all) what="$1"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$work" ] || work="$(mktemp -d /tmp/brainmclip-kill-resume.XXXXXX)"
mkdir -p "$work"
RANDOM=$seed
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
fail=0
log() { echo "kill-resume: $*" >&2; }

# Files in DIR (recursively) that are neither temp files (.NAME.*.tmp) nor expected: every non-temp file must be
# complete. For safetensors we check the header length and the data size against the file size.
check_no_partial() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  /usr/bin/env python3 - "$dir" <<'PY' || return 1
import json, os, struct, sys
bad = []
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(root, f)
        if f.startswith(".") and f.endswith(".tmp"):
            continue  # temp files are allowed; they never carry a final name
        if f.endswith(".safetensors"):
            b = open(p, "rb").read()
            try:
                n = struct.unpack("<Q", b[:8])[0]
                h = json.loads(b[8:8 + n])
                end = max([v["data_offsets"][1] for k, v in h.items() if k != "__metadata__"] + [0])
                if 8 + n + end != len(b):
                    bad.append(f"{p}: {len(b)} bytes, header says {8 + n + end}")
            except Exception as e:
                bad.append(f"{p}: unreadable ({e})")
        elif f.endswith(".json"):
            try:
                json.load(open(p))
            except Exception as e:
                bad.append(f"{p}: partial JSON ({e})")
for b in bad:
    print("partial file under a final name:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# run_with_kills NAME WATCHDIR -- ARGS...: kills N times at random moments, then finishes with --resume.
run_with_kills() {
  local name="$1" watch="$2"; shift 3
  local attempt=0 killed=0
  while :; do
    local args=("$@"); [ $attempt -gt 0 ] && args+=(--resume)
    if [ $attempt -lt "$kills" ]; then
      "$cli" "${args[@]}" >"$work/$name.out.$attempt" 2>"$work/$name.err.$attempt" &
      local pid=$!
      # Random moment: wait until the run shows progress (files appear in WATCHDIR), then a random 0-1.5 s more.
      local t=0
      while kill -0 $pid 2>/dev/null && [ -z "$(ls -A "$watch" 2>/dev/null)" ] && [ $t -lt 600 ]; do sleep 0.05; t=$((t+1)); done
      sleep "$(printf '0.%03d' $((RANDOM % 1000)))"; [ $((RANDOM % 2)) = 0 ] && sleep 0.5
      if kill -0 $pid 2>/dev/null; then
        kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
        killed=$((killed+1)); log "$name: attempt $attempt killed with SIGKILL"
        check_no_partial "$(dirname "$watch")" || { fail=1; log "$name: FAILED partial-file check"; }
        attempt=$((attempt+1)); continue
      fi
      wait $pid || { log "$name: attempt $attempt failed (see $work/$name.err.$attempt)"; fail=1; return; }
      log "$name: attempt $attempt finished before the kill"
      return
    fi
    "$cli" "${args[@]}" >"$work/$name.out.$attempt" 2>"$work/$name.err.$attempt" || { log "$name: resume failed (see $work/$name.err.$attempt)"; fail=1; return; }
    log "$name: completed after $killed kill(s)"
    return
  done
}

same() { if cmp -s "$1" "$2"; then log "OK   $3 identical to the uninterrupted run"; else log "FAIL $3 differs from the uninterrupted run"; fail=1; fi; }

# Checkpoints carry timings in their metadata, so compare every tensor (name, dtype, shape, bytes) instead.
same_tensors() {
  if /usr/bin/env python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in h.items()}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
sys.exit(0 if a == b else 1)
PY
  then log "OK   $3 tensor-identical to the uninterrupted run"; else log "FAIL $3 differs from the uninterrupted run"; fail=1; fi
}

log "work folder $work (seed $seed, $kills kills per command)"
[ -d "$work/clip" ] || "$cli" clip-init --out "$work/clip" --preset tiny --seed 3 >/dev/null 2>&1
[ -d "$work/data" ] || "$cli" synth --out "$work/data" --train 60 --test 12 --image-size 32 --seed 1 >/dev/null 2>&1
stim="$work/data/processed_data/subj01/nsd_train_stim_sub1.npy"

if [ "$what" = all ] || [ "$what" = features ]; then
  rm -rf "$work/feat-ref.safetensors" "$work/features"; mkdir -p "$work/features"
  "$cli" features --clip "$work/clip" --input "$stim" --batch 4 --out "$work/feat-ref.safetensors" >/dev/null 2>&1
  run_with_kills features "$work/features/feat.safetensors.partial" -- \
    features --clip "$work/clip" --input "$stim" --batch 4 --out "$work/features/feat.safetensors"
  same "$work/feat-ref.safetensors" "$work/features/feat.safetensors" "features output"
fi

if [ "$what" = all ] || [ "$what" = train ]; then
  if "$cli" train --help >/dev/null 2>&1; then
    [ -f "$work/feat-ref.safetensors" ] || "$cli" features --clip "$work/clip" --input "$stim" --batch 4 --out "$work/feat-ref.safetensors" >/dev/null 2>&1
    rm -rf "$work/run-ref" "$work/run"
    targs=(train --data "$work/data" --features "$work/feat-ref.safetensors" --config tiny --epochs 4 --seed 0)
    "$cli" "${targs[@]}" --out "$work/run-ref" >/dev/null 2>&1 || { log "train: reference run failed"; fail=1; }
    run_with_kills train "$work/run" -- "${targs[@]}" --out "$work/run"
    same "$work/run-ref/zscore.safetensors" "$work/run/zscore.safetensors" "train zscore.safetensors"
    for f in last best; do same_tensors "$work/run-ref/checkpoints/$f.ckpt" "$work/run/checkpoints/$f.ckpt" "train checkpoints/$f.ckpt"; done
  else
    log "train: command not available in this build, skipped"
  fi
fi

if [ "$what" = all ] || [ "$what" = reconstruct ]; then
  if "$cli" reconstruct --help >/dev/null 2>&1 && [ -n "${PRED:-}" ] && [ -n "${GEN:-}" ]; then
    rm -rf "$work/recon-ref" "$work/recon"
    rargs=(reconstruct --pred "$PRED" --generator "$GEN" --steps 4 --seed 0)
    "$cli" "${rargs[@]}" --out "$work/recon-ref" >/dev/null 2>&1
    run_with_kills reconstruct "$work/recon" -- "${rargs[@]}" --out "$work/recon"
    for f in $(cd "$work/recon-ref" && find . -type f ! -name '*.json' | sort); do same "$work/recon-ref/$f" "$work/recon/$f" "reconstruct $f"; done
  else
    log "reconstruct: needs PRED=predictions.safetensors and GEN=generator folder in the environment; skipped"
  fi
fi

[ $fail = 0 ] && log "all checks passed" || log "some checks FAILED"
exit $fail
