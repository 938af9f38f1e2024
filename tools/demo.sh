#!/usr/bin/env bash
# make demo: slm's main job, the study, on its built-in default: `slm experiment` with SmolLM2-135M-Instruct
# (found in $SLM_MODELS, models/ or the fixtures) as the base, sized to finish in about 20 minutes on 2 cores.
# A second `make demo` resumes (finished steps are skipped) and prints the report again.
set -euo pipefail
SLM=${1:-build/slm}
FIX=${2:-../shared/fixtures}
OUT=${DEMO_OUT:-build/demo}
export SLM_MODELS=${SLM_MODELS:-$FIX/models}
args=(--out "$OUT")
[ -d "$OUT/steps" ] && args+=(--resume)
"$SLM" experiment "${args[@]}" ${DEMO_ARGS:-}
echo
sed -n '/^## Base vs tuned/,/^## Speed by format/p' "$OUT/report.md" | sed '$d'
echo "the whole report: $OUT/report.md (figures: $OUT/report.json, plots: $OUT/plots/)"
