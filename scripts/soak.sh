#!/usr/bin/env bash
# Soak: a long `sac train` run (default 200k steps on PointGoal-v0, replay buffer of 50k so it fills early), sampling
# the process's resident memory; prints the samples and the growth after the buffer filled.
# Usage (after dotnet build -c Release): scripts/soak.sh [STEPS=200000] [BUFFER=50000] [INTERVAL_S=5]
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-200000}"; buffer="${2:-50000}"; every="${3:-5}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
echo "{\"bufferSize\": $buffer, \"evalInterval\": 10000}" > "$work/config.json"
dotnet Sac.Cli/bin/Release/net10.0/sac.dll train --env PointGoal-v0 --steps "$steps" --seed 1 --out "$work/run" \
  --config "$work/config.json" --checkpoint-every 20000 --quiet &
pid=$!
echo "seconds,step,rss_mib"
start=$(date +%s)
samples="$work/samples.csv"
while kill -0 "$pid" 2> /dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2> /dev/null || echo "")
  step=$(tail -n 1 "$work/run/metrics.csv" 2> /dev/null | cut -d, -f1 || echo 0)
  if [ -n "$rss" ]; then
    line="$(( $(date +%s) - start )),${step:-0},$(( rss / 1024 ))"
    echo "$line"; echo "$line" >> "$samples"
  fi
  sleep "$every"
done
wait "$pid"
# Growth once the buffer is full: compare the first sample past `buffer` steps with the last one.
awk -F, -v full="$buffer" '$2 >= full && first == "" { first = $3; at = $2 } { last = $3; lastAt = $2 }
  END { printf "rss after the buffer filled: %d MiB at step %d, %d MiB at step %d (growth %d MiB)\n", first, at, last, lastAt, last - first }' "$samples"
