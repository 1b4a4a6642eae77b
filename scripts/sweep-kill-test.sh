#!/usr/bin/env bash
# Sweep kill test: a cluster of three `sac worker` silos (separate processes, localhost clustering on 127.0.0.1 only)
# runs a 6-run PointGoal-v0 sweep; one silo that is not the primary (the primary holds the development membership
# table) is killed with SIGKILL while it trains a run that has a checkpoint. Every run must still finish, and each
# run's metrics.csv (less its timing columns) and final.ckpt must equal those of a single-process `sac train` of the
# same run bitwise. Every wait below is bounded in count and time.
# Usage (after dotnet build -c Release): scripts/sweep-kill-test.sh [STEPS=3000]
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-3000}"
sac=(dotnet "$(pwd)/Sac.Cli/bin/Release/net10.0/sac.dll")
work="$(mktemp -d)"
pids=()
cleanup() {
  # SIGTERM first (a silo stops after checkpointing what it trains), then SIGKILL what is left after 15 s.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for _ in $(seq 1 30); do
    alive=0; for pid in "${pids[@]}"; do kill -0 "$pid" 2> /dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break; sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# Ports from a random base, so that two runs of this test on one machine do not meet.
base=$((20000 + RANDOM % 20000))
silo_ports=("$base" "$((base + 1))" "$((base + 2))")
gateway_ports=("$((base + 100))" "$((base + 101))" "$((base + 102))")
started=$(date +%s%N)
stamp() { local ds=$(( ($(date +%s%N) - started) / 100000000 )); printf '%4d.%ds' $((ds / 10)) $((ds % 10)); }

cat > "$work/sweep.json" <<SPEC
{ "name": "kill-test", "out": "$work/sweep", "environments": ["PointGoal-v0"], "algorithms": ["sac"],
  "seeds": [1, 2, 3], "steps": $steps, "checkpointEvery": 250, "grid": {"tau": [0.005, 0.01]}, "evalEpisodes": 5 }
SPEC

for i in 0 1 2; do
  "${sac[@]}" worker --cluster localhost --port "${silo_ports[$i]}" --gateway-port "${gateway_ports[$i]}" \
    --primary-port "${silo_ports[0]}" --max-runs 1 > "$work/silo$i.log" 2>&1 &
  pids+=("$!")
  # The primary first: the others join through it.
  for _ in $(seq 1 60); do grep -q "joined cluster" "$work/silo$i.log" && break; sleep 1; done
  grep -q "joined cluster" "$work/silo$i.log" || { echo "silo $i did not start"; cat "$work/silo$i.log"; exit 1; }
  echo "$(stamp) silo $i up: 127.0.0.1:${silo_ports[$i]} (gateway ${gateway_ports[$i]}), pid ${pids[$i]}"
done

"${sac[@]}" sweep --spec "$work/sweep.json" --gateways "${gateway_ports[@]}" --timeout 400 > "$work/summary.out" 2> "$work/sweep.log" &
sweep_pid=$!
pids+=("$sweep_pid")

# Wait (at most 120 s) for a non-primary silo to train a run that has written a checkpoint, then kill that silo.
victim=""; victim_run=""
for _ in $(seq 1 600); do
  for status in "$work"/sweep/status/*.json; do
    [ -e "$status" ] || continue
    run=$(basename "$status" .json)
    for i in 1 2; do
      if grep -q '"state": "running"' "$status" && grep -q "\"silo\": \"127.0.0.1:${silo_ports[$i]}\"" "$status" \
         && [ -f "$work/sweep/runs/$run/checkpoint.ckpt" ] && [ ! -f "$work/sweep/runs/$run/final.ckpt" ]; then
        # Only in the first half of the run, so the kill cannot land just as it finishes.
        at=$(tail -n 1 "$work/sweep/runs/$run/metrics.csv" | cut -d, -f1)
        [[ "$at" =~ ^[0-9]+$ ]] && [ "$at" -lt $((steps / 2)) ] || continue
        victim=$i; victim_run=$run; break 3
      fi
    done
  done
  kill -0 "$sweep_pid" 2> /dev/null || break
  sleep 0.2
done
[ -n "$victim" ] || { echo "no non-primary silo was seen training a checkpointed run"; cat "$work/sweep.log"; exit 1; }
kill -9 "${pids[$victim]}"; wait "${pids[$victim]}" 2> /dev/null || true
last_row=$(tail -n 1 "$work/sweep/runs/$victim_run/metrics.csv" | cut -d, -f1)
echo "$(stamp) at $(date -u +%H:%M:%S.%3N) UTC: SIGKILL silo $victim (127.0.0.1:${silo_ports[$victim]}) while it trained $victim_run (metrics at step $last_row)"

# The sweep ends by itself (its own --timeout bounds it); wait for it at most 420 s.
for _ in $(seq 1 420); do kill -0 "$sweep_pid" 2> /dev/null || break; sleep 1; done
if kill -0 "$sweep_pid" 2> /dev/null; then echo "the sweep did not end"; cat "$work/sweep.log"; exit 1; fi
rc=0; wait "$sweep_pid" || rc=$?
echo "$(stamp) sweep ended with exit code $rc"
echo "--- timeline (sac sweep's events.log: UTC time, seconds since the sweep started) ---"
sed -E 's/^[0-9-]+T([0-9:.]{12})[0-9]*Z/\1/' "$work/sweep/events.log"
echo "--- summary ---"; cat "$work/summary.out"
[ "$rc" -eq 0 ] || { echo "sweep failed"; cat "$work/sweep.log"; exit 1; }

"${sac[@]}" sweep --spec "$work/sweep.json" --status | tee "$work/status.out"
[ "$(grep -c ' done ' "$work/status.out")" -eq 6 ] || { echo "not every run is done"; exit 1; }
grep -q "\"attempts\": 2" "$work/sweep/status/$victim_run.json" || { echo "$victim_run was not continued after the kill"; exit 1; }
grep -q "\"silo\": \"127.0.0.1:${silo_ports[$victim]}\"" "$work/sweep/status/$victim_run.json" && { echo "$victim_run ended on the killed silo"; exit 1; }
[ "$(wc -l < "$work/sweep/summary.csv")" -eq 3 ] || { echo "summary.csv should hold a header and 2 configurations"; exit 1; }
[ "$(ls "$work/sweep/plots"/*.svg | wc -l)" -eq 2 ] || { echo "expected one plot per configuration"; exit 1; }

# Each run against a single-process sac train of the same run: final.ckpt bitwise, metrics.csv bitwise but for its
# last two columns (updates_per_sec and wall_seconds measure time).
strip() { awk -F, -v OFS=, '{ NF -= 2; print }' "$1"; }
same=0
for seed in 1 2 3; do
  for tau in 0.005 0.01; do
    run="PointGoal-v0_sac_tau=${tau}_s${seed}"
    ref="$work/reference/$run"
    "${sac[@]}" train --env PointGoal-v0 --algo sac --seed "$seed" --steps "$steps" --config "$work/sweep/configs/tau=${tau}.json" \
      --checkpoint-every 250 --save-replay --out "$ref" --quiet
    cmp "$ref/final.ckpt" "$work/sweep/runs/$run/final.ckpt" || { echo "$run: final.ckpt differs from the single-process run"; exit 1; }
    cmp <(strip "$ref/metrics.csv") <(strip "$work/sweep/runs/$run/metrics.csv") || { echo "$run: metrics.csv differs from the single-process run"; exit 1; }
    same=$((same + 1))
  done
done
echo "$(stamp) sweep kill test: 6 runs done after SIGKILL of silo $victim ($victim_run continued elsewhere); $same of 6 runs equal their single-process run bitwise (final.ckpt, metrics.csv)"
