#!/usr/bin/env bash
# Kill test: starts `sac train`, kills it with SIGKILL at random moments (many while a checkpoint is being written),
# and checks after every kill that the run directory holds a loadable checkpoint from which `--resume` continues;
# finally resumes to the end and checks the finished run.
# Usage (after dotnet build -c Release): scripts/kill-test.sh [KILLS=20] [STEPS=20000] [SEED=1]
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-20}"; steps="${2:-20000}"; seed="${3:-1}"
sac=(dotnet Sac.Cli/bin/Release/net10.0/sac.dll)
work="$(mktemp -d)"; dir="$work/run"
trap 'rm -rf "$work"' EXIT
RANDOM="$seed"
during_write=0; loadable=0; none_yet=0

check_loadable() {
  local ckpt="$dir/checkpoint.ckpt"
  if [ ! -f "$ckpt" ]; then
    if [ -f "$dir/final.ckpt" ]; then ckpt="$dir/final.ckpt"; else none_yet=$((none_yet + 1)); return 0; fi
  fi
  if "${sac[@]}" eval --checkpoint "$ckpt" --env PointGoal-v0 --episodes 1 > /dev/null; then
    loadable=$((loadable + 1))
  else
    echo "kill $1: $ckpt does not load" >&2; exit 1
  fi
}

for i in $(seq 1 "$kills"); do
  if [ -f "$dir/config.json" ] && { [ -f "$dir/checkpoint.ckpt" ] || [ -f "$dir/final.ckpt" ]; }; then
    args=(train --resume "$dir" --quiet)
  else
    rm -rf "$dir"
    args=(train --env PointGoal-v0 --steps "$steps" --seed "$seed" --out "$dir" --checkpoint-every 1 --save-replay --quiet)
  fi
  "${sac[@]}" "${args[@]}" &
  pid=$!
  # 0.8 to 3.0 s: past start-up, into training and its frequent checkpoint writes.
  sleep "$(printf '0.%03d' $((RANDOM % 1000)))"; sleep "0.8"; sleep "$((RANDOM % 3))"
  if kill -9 "$pid" 2> /dev/null; then
    wait "$pid" 2> /dev/null || true
    # A leftover temporary file means the kill landed while a checkpoint was being written.
    if compgen -G "$dir/*.tmp" > /dev/null; then during_write=$((during_write + 1)); fi
  else
    wait "$pid" || true
  fi
  check_loadable "$i"
done

# Finish the run and check it: every step up to the end, once, in order.
if [ -f "$dir/config.json" ] && { [ -f "$dir/checkpoint.ckpt" ] || [ -f "$dir/final.ckpt" ]; }; then
  "${sac[@]}" train --resume "$dir" --quiet
else
  rm -rf "$dir"; "${sac[@]}" train --env PointGoal-v0 --steps "$steps" --seed "$seed" --out "$dir" --quiet
fi
"${sac[@]}" eval --checkpoint "$dir/final.ckpt" --env PointGoal-v0 --episodes 3
last=$(tail -n 1 "$dir/metrics.csv" | cut -d, -f1)
sorted=$(tail -n +2 "$dir/metrics.csv" | cut -d, -f1 | sort -n -c && echo yes)
echo "kills $kills: $loadable left a loadable checkpoint, $none_yet came before the first one, $during_write landed while a checkpoint was being written; final step $last of $steps, metrics in order: $sorted"
[ "$last" -le "$steps" ] && [ "$sorted" = yes ]
