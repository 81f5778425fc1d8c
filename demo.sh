#!/usr/bin/env bash
# Builds BrainMClip (Release) and runs the embedded end-to-end demo. Extra arguments go to `brainmclip demo`.
set -euo pipefail
cd "$(dirname "$0")"
dotnet build src/BrainMClip.Cli -c Release -nologo -v q -clp:ErrorsOnly
exec ./brainmclip demo "$@"
