#!/usr/bin/env bash
# Sets up a fresh machine (Debian packages the tests use) and runs every test. CI runs exactly this (.ci/run).
set -uo pipefail
cd "$(dirname "$0")"
./scripts/setup.sh || exit 1
export OMP_WAIT_POLICY=PASSIVE
# Layout first (seconds, no build): the .editorconfig rules. Fix with `dotnet format whitespace BrainMClip.slnx`.
if ! dotnet format whitespace BrainMClip.slnx --verify-no-changes -v q; then
  echo "dotnet format: layout differs from .editorconfig (run: dotnet format whitespace BrainMClip.slnx)"; exit 1
fi
log=$(mktemp)
dotnet test BrainMClip.slnx -c Release --logger "console;verbosity=normal" 2>&1 | tee "$log" | grep -vE '^\s+Passed [A-Za-z]'
rc=${PIPESTATUS[0]}
count() { grep -E "^\s+$1: [0-9]+" "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0; }
passed=$(count Passed); failed=$(count Failed); skipped=$(count Skipped)
rm -f "$log"
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$rc" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
