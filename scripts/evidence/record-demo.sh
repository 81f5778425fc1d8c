#!/usr/bin/env bash
# Runs `./brainmclip demo` (defaults) under /usr/bin/time -v and records what the README's demo section quotes:
# docs/evidence/demo/demo-summary.json (the demo's own summary: METRICS per row, paired CIs, stage timings) and
# docs/evidence/demo/time.json (wall, user and system seconds, peak RSS, the CPU, the commit). Then
# `brainmclip evidence report --root .` regenerates the README's demo blocks from them.
#
#   scripts/evidence/record-demo.sh [--out DIR] [--no-write]
#
# Run it on a quiet machine: the wall time is the claim (issue 29: <= 8 min, <= 4 GB on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)/demo; write=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2;;
    --no-write) write=0; shift;;
    -h|--help) sed -n '2,9p' "$0"; exit 0;;
    *) echo "record-demo.sh: unknown argument '$1' (see --help)" >&2; exit 2;;
  esac
done
./brainmclip --version > /dev/null   # build first: the build is not the demo's time
tv=$(mktemp)
/usr/bin/time -v -o "$tv" ./brainmclip demo --out "$out" > /dev/null
field() { grep -F "$1" "$tv" | sed 's/.*: //'; }
wall=$(field "Elapsed (wall clock)" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.1f", s }')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
family=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '); model=$(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
vendor=$(grep -m1 'vendor_id' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
json=$(cat <<JSON
{
  "command": "/usr/bin/time -v ./brainmclip demo",
  "commit": "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+changes')",
  "date": "$(date -u +%F)",
  "cpu": "$cpu ($vendor family $family model $model), $(nproc) logical CPUs",
  "wall_s": $wall,
  "user_s": $(field "User time"),
  "system_s": $(field "System time"),
  "max_rss_gb": $(awk "BEGIN { printf \"%.2f\", $(field "Maximum resident set size") / 1048576 }")
}
JSON
)
echo "$json"
if [ "$write" = 1 ]; then
  mkdir -p docs/evidence/demo
  # The run's temporary folder is no fact about the demo: recorded as "demo-out".
  sed "s#$(cd "$out" && pwd)#demo-out#g" "$out/demo-summary.json" > docs/evidence/demo/demo-summary.json.tmp
  mv docs/evidence/demo/demo-summary.json.tmp docs/evidence/demo/demo-summary.json
  printf '%s\n' "$json" > docs/evidence/demo/time.json.tmp && mv docs/evidence/demo/time.json.tmp docs/evidence/demo/time.json
  echo "wrote docs/evidence/demo/demo-summary.json and time.json; now: ./brainmclip evidence report --root ." >&2
fi
