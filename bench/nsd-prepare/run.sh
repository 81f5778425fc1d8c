#!/bin/sh
# Peak memory of `nsd prepare` on a larger miniature release (docs/evidence/nsd-prepare-memory.md).
# Usage: bench/nsd-prepare/run.sh WORKDIR   (needs a Release build: dotnet build src/BrainMClip.Cli -c Release)
set -e
W=${1:?work folder}
here=$(dirname "$0")
/usr/bin/python3 "$here/make_release.py" "$W/release" 4 40
/usr/bin/time -v ./brainmclip nsd prepare --nsd-root "$W/release" --subject 1 --out "$W/data" 2> "$W/time.txt" \
  > "$W/prepare.json"
cat "$W/prepare.json"
grep -E "Maximum resident|Elapsed|User time" "$W/time.txt"
