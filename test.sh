#!/usr/bin/env bash
# Sets up a fresh machine (Debian packages the tests use) and runs every test. CI runs exactly this (.ci/run).
set -uo pipefail
cd "$(dirname "$0")"
./scripts/setup.sh || exit 1
export OMP_WAIT_POLICY=PASSIVE
# Format first: every .editorconfig rule (whitespace, code style, import order), not only the layout. It loads the
# solution, so it takes about 2 minutes on 2 cores (measured 1 min 53 s; 5 min 41 s on a busy machine).
# Fix with `dotnet format BrainMClip.slnx`.
if ! dotnet format BrainMClip.slnx --verify-no-changes -v q; then
  echo "dotnet format: the code differs from .editorconfig (run: dotnet format BrainMClip.slnx)"; exit 1
fi
# The CPU whose kernels the tests run on, first in every log: MKL/oneDNN block shapes differently per CPU, and a
# failure of a numerical test is read against it (docs/reliability.md).
if dotnet build src/BrainMClip.Cli -c Release -nologo -v q -clp:ErrorsOnly >/dev/null 2>&1; then
  echo "machine: $(./brainmclip doctor --summary 2>/dev/null || echo 'doctor --summary failed')"
else
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) (CLI did not build; the tests will say why)"
fi
log=$(mktemp)
dotnet test BrainMClip.slnx -c Release --logger "console;verbosity=normal" 2>&1 | tee "$log" | grep -vE '^\s+Passed [A-Za-z]'
rc=${PIPESTATUS[0]}
count() { grep -E "^\s+$1: [0-9]+" "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0; }
passed=$(count Passed); failed=$(count Failed); skipped=$(count Skipped)
# The failures again, last, with their first lines: a CI log is often read from its tail only.
if [ "$failed" != 0 ]; then
  echo "failed tests:"; grep -E -A4 '^\s+Failed [A-Za-z]' "$log" | grep -vE '^\s*(--|Stack Trace:)?$' | cut -c1-300
fi
rm -f "$log"
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$rc" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
