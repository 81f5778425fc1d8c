#!/usr/bin/env bash
# Sets up a fresh machine (Debian packages used by the fixture scripts and the report check) and runs every test.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
dotnet test BrainMClip.slnx -c Release --logger "console;verbosity=normal" 2>&1 | tee /tmp/brainmclip-test.log | grep -vE '^\s+Passed ' || true
# Surface the runner's result and fail when it failed.
summary=$(grep -E '^(Passed|Failed)!' /tmp/brainmclip-test.log | tail -n 1)
echo "$summary"
if [[ "$summary" =~ Failed:\ +([0-9]+),\ +Passed:\ +([0-9]+),\ +Skipped:\ +([0-9]+) ]]; then
  echo "${BASH_REMATCH[2]} passed, ${BASH_REMATCH[1]} failed, ${BASH_REMATCH[3]} skipped"
  [[ "${BASH_REMATCH[1]}" == "0" && "$summary" == Passed!* ]] && exit 0
fi
exit 1
