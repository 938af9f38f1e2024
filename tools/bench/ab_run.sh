#!/usr/bin/env bash
# Prompt and generation speed of two slm binaries on one model, alternating A B A B ... so that drift of a
# shared machine hits both alike; prints each run and the medians. slm run reports its own timings on stderr.
#   usage: tools/bench/ab_run.sh SLM_A SLM_B MODEL [ROUNDS=7] [PROMPT_WORDS=450] [N_GEN=64] [THREADS=2]
set -euo pipefail
A=$1; B=$2; M=$3; R=${4:-7}; W=${5:-450}; G=${6:-64}; T=${7:-2}
P=$(for ((i = 0; i < W; i++)); do printf 'word%d ' $((i % 37)); done)
run() { "$1" run -m "$M" -p "$P" -n "$G" --temp 0 --no-echo -t "$T" 2>&1 >/dev/null | grep '^prompt:' |
        sed -E 's/.*\(([0-9.]+) tok\/s\).*generation:.*\(([0-9.]+) tok\/s\).*/\1 \2/'; }
: > /tmp/ab_a.$$; : > /tmp/ab_b.$$
for ((i = 1; i <= R; i++)); do
  run "$A" | tee -a /tmp/ab_a.$$ | sed "s/^/A round $i: pp tg /"
  run "$B" | tee -a /tmp/ab_b.$$ | sed "s/^/B round $i: pp tg /"
done
med() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
for s in a b; do
  f=/tmp/ab_$s.$$
  echo "$s: median pp $(cut -d' ' -f1 $f | med) tok/s, median tg $(cut -d' ' -f2 $f | med) tok/s ($R runs)"
done
paste -d' ' /tmp/ab_a.$$ /tmp/ab_b.$$ | awk '{print $3/$1, $4/$2}' > /tmp/ab_r.$$
echo "B/A per round: median pp $(cut -d' ' -f1 /tmp/ab_r.$$ | med), median tg $(cut -d' ' -f2 /tmp/ab_r.$$ | med)"
rm -f /tmp/ab_a.$$ /tmp/ab_b.$$ /tmp/ab_r.$$
