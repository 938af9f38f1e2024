#!/usr/bin/env bash
# make demo: runs the most complete slm pipeline that exists, end to end, on a built-in default.
set -euo pipefail
SLM=${1:-build/slm}
FIX=${2:-../shared/fixtures}
echo "== slm demo =="
"$SLM" --help
