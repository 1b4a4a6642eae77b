#!/usr/bin/env bash
# Wall time of one sweep on one silo against the same sweep on two silos, both on this machine (localhost clustering,
# 127.0.0.1 only; each silo at most its cores' worth of runs unless MAX_RUNS is given).
# Usage (after dotnet build -c Release): scripts/sweep-timing.sh [RUNS=10] [STEPS=3000] [ENV=Pendulum-v1] [MAX_RUNS=]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"; steps="${2:-3000}"; env="${3:-Pendulum-v1}"; max_runs="${4:-}"
sac=(dotnet "$(pwd)/Sac.Cli/bin/Release/net10.0/sac.dll")
work="$(mktemp -d)"; pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  sleep 2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
base=$((20000 + RANDOM % 20000))
seeds=$(seq -s, 0 $((runs - 1)))
limit=(); [ -n "$max_runs" ] && limit=(--max-runs "$max_runs")

measure() {
  local silos="$1" gateways=() i
  for i in $(seq 0 $((silos - 1))); do
    "${sac[@]}" worker --port $((base + i)) --gateway-port $((base + 100 + i)) --primary-port "$base" "${limit[@]}" > "$work/silo$silos-$i.log" 2>&1 &
    pids+=("$!"); gateways+=($((base + 100 + i)))
    for _ in $(seq 1 60); do grep -q "joined cluster" "$work/silo$silos-$i.log" && break; sleep 1; done
    grep -q "joined cluster" "$work/silo$silos-$i.log" || { echo "silo $i did not start"; exit 1; }
  done
  echo "{ \"name\": \"timing$silos\", \"out\": \"$work/sweep$silos\", \"environments\": [\"$env\"], \"seeds\": [$seeds], \"steps\": $steps, \"evalEpisodes\": 5 }" > "$work/spec$silos.json"
  local start end
  start=$(date +%s%N)
  timeout 3000 "${sac[@]}" sweep --spec "$work/spec$silos.json" --gateways "${gateways[@]}" --quiet > /dev/null
  end=$(date +%s%N)
  echo "$silos silo(s): $runs runs of $env, $steps steps each: $(( (end - start) / 1000000 )) ms"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  pids=(); base=$((base + 10))
}
measure 1
measure 2
