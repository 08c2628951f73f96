#!/usr/bin/env bash
# `make bench-fluent-bit-memory FLUENT_BIT=/path/to/fluent-bit`: the Fluent Bit plugin's memory in
# a REAL Fluent Bit. Peak RSS (VmHWM) of `fluent-bit -e slack_audit.so -i slack_audit ... -o null`
# draining a backfill of $EVENTS simulator events (gzip level 6, `limit` $LIMIT), against two
# baselines run for as long:
#   idle:  the same command with the plugin loaded and nothing to collect (a simulator with no
#          events): Fluent Bit plus the plugin's code, threads and TLS set-up;
#   dummy: Fluent Bit's own work for the same records, no plugin: the `dummy` input, threaded like
#          every proxy input, handing over $LIMIT copies of an average simulator entry once a
#          second (one buffer per second into the ring, as the plugin's 1 s callback does).
# Prints one line per run and the ranges. RUNS=3 by default (the machine is shared: peak RSS
# varies 1-1.5 MB run to run). Figures only: nothing here passes or fails on them.
set -euo pipefail

FB=${FLUENT_BIT:?set FLUENT_BIT=/path/to/fluent-bit}
BIN=${BIN:-target/release/slack-audit}
PLUGIN=${PLUGIN:-fluent-bit-plugin/build/slack_audit.so}
EVENTS=${EVENTS:-200000}
LIMIT=${LIMIT:-9999}
RUNS=${RUNS:-3}
OUTPUT=${OUTPUT:-null}
WHICH=${WHICH:-plugin idle dummy}
TOKEN=xoxp-sim-token
export LC_ALL=C

work=$(mktemp -d)
sim_pid=
fb_pid=
cleanup() {
  for p in $fb_pid $sim_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

sim_start() {
  url=
  for _try in 1 2 3; do
    "$BIN" sim --events "$1" --max-calls-per-minute 0 --gzip true --gzip-level 6 --duration 900 \
      >"$work/sim.out" 2>"$work/sim.err" &
    sim_pid=$!
    for _ in $(seq 400); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
    url=$(awk '/listening/ {print $3}' "$work/sim.out")
    [ -n "$url" ] && return
    echo "the simulator did not start (try $_try):" >&2; cat "$work/sim.err" >&2
    kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; sim_pid=
  done
  exit 1
}
sim_stop() { kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=; }
served() { curl -sf "$url/sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries_served"])' 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }

output_args() {
  if [ "$OUTPUT" = file ]; then
    out=(-o file -m '*' -p "path=$work" -p file=out.txt -p format=plain)
  else
    out=(-o null -m '*')
  fi
}

# fb_plugin: starts Fluent Bit with the plugin against the running simulator.
fb_plugin() {
  rm -rf "$work/state" "$work/out.txt"
  output_args
  SLACK_AUDIT_TOKEN=$TOKEN "$FB" -e "$PLUGIN" -f 1 -i slack_audit -p "api_url=$url/audit/v1" \
    -p "state_dir=$work/state" -p "limit=$LIMIT" -p max_calls_per_minute=1000 -p lag=0 -p since=0 \
    "${out[@]}" >"$work/fb.log" 2>&1 &
  fb_pid=$!
}

# stop_fb: writes "peak_rss_kb cpu_s" of the running Fluent Bit to $work/r, then stops it.
stop_fb() {
  echo "$(hwm_kb "$fb_pid") $(cpu_s "$fb_pid")" >"$work/r"
  kill -TERM "$fb_pid"; wait "$fb_pid" 2>/dev/null || true; fb_pid=
}

# plugin_run: the drain; writes "peak_rss_kb cpu_s wall_s events_per_s" to $work/r.
plugin_run() {
  sim_start "$EVENTS"
  local t0 t1 n
  t0=$(date +%s.%N)
  fb_plugin
  # Served every event: the last page is with the plugin. 3 s more: it has been handed over and
  # acknowledged (1.5 s in the ring).
  while sleep 0.2; do
    n=$(served)
    [ "$n" -ge "$EVENTS" ] && break
    kill -0 "$fb_pid" 2>/dev/null || { echo "fluent-bit ended early:" >&2; tail -20 "$work/fb.log" >&2; exit 1; }
  done
  t1=$(date +%s.%N)
  sleep 3
  stop_fb
  sim_stop
  if [ "$OUTPUT" = file ]; then echo "   output lines: $(wc -l <"$work/out.txt")" >&2; fi
  grep -a -E "\[(error|warn)\]" "$work/fb.log" | head -5 >&2 || true
  echo "$(cat "$work/r") $(awk -v a="$t0" -v b="$t1" -v e="$EVENTS" 'BEGIN { printf "%.1f %d", b - a, e / (b - a) }')" >"$work/r"
}

# idle_run SECONDS: the plugin loaded, nothing to collect.
idle_run() {
  sim_start 0
  fb_plugin
  sleep "$1"
  kill -0 "$fb_pid" 2>/dev/null || { echo "fluent-bit ended early:" >&2; tail -20 "$work/fb.log" >&2; exit 1; }
  stop_fb
  sim_stop
}

# dummy_run: Fluent Bit's own work for as many records, handed over a page a second.
dummy_run() {
  local samples=$(( (EVENTS + LIMIT - 1) / LIMIT ))
  output_args
  "$FB" -f 1 -i dummy -p "dummy=$entry" -p "copies=$LIMIT" -p rate=1 -p "samples=$samples" -p threaded=on \
    "${out[@]}" >"$work/fb.log" 2>&1 &
  fb_pid=$!
  sleep $((samples + 4))
  stop_fb
}

# An entry of average size for the dummy input, from a page of the simulator's dataset.
sim_start "$EVENTS"
entry=$(curl -sf -H "Authorization: Bearer $TOKEN" "$url/audit/v1/logs?limit=1000" | python3 -c '
import json, sys
es = json.load(sys.stdin)["entries"]
avg = sum(len(json.dumps(e, separators=(",", ":"))) for e in es) / len(es)
print(json.dumps(min(es, key=lambda e: abs(len(json.dumps(e, separators=(",", ":"))) - avg)), separators=(",", ":")))')
sim_stop

echo "== Fluent Bit $("$FB" --version | head -1 | awk '{print $NF}'): $EVENTS events, limit $LIMIT, -o $OUTPUT, $RUNS runs each (load average $(cut -d' ' -f1-3 /proc/loadavg))"
declare -A peaks
wall=30
for kind in $WHICH; do
  for i in $(seq "$RUNS"); do
    case $kind in
      plugin) plugin_run; r=$(cat "$work/r"); wall=$(echo "$r" | awk '{printf "%d", $3 + 3}');
              echo "   plugin drain  run $i: peak RSS $(echo "$r" | awk '{printf "%.1f MB, CPU %.2f s, %.1f s to the last page, %d events/s", $1/1024, $2, $3, $4}')";;
      idle)   idle_run "$wall"; r=$(cat "$work/r"); echo "   plugin idle   run $i: peak RSS $(echo "$r" | awk '{printf "%.1f MB, CPU %.2f s", $1/1024, $2}') (${wall} s)";;
      dummy)  dummy_run; r=$(cat "$work/r"); echo "   dummy input   run $i: peak RSS $(echo "$r" | awk '{printf "%.1f MB, CPU %.2f s", $1/1024, $2}')";;
    esac
    peaks[$kind]="${peaks[$kind]:-} $(echo "$r" | awk '{print $1}')"
  done
done
range() { echo "$1" | tr ' ' '\n' | grep . | sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.1f-%.1f MB", lo/1024, hi/1024}'; }
for kind in $WHICH; do echo "   $kind: peak RSS $(range "${peaks[$kind]}")"; done
if [[ " $WHICH " == *" plugin "* ]]; then
  for base in idle dummy; do
    [[ " $WHICH " == *" $base "* ]] || continue
    lo=$(echo "${peaks[plugin]}" | tr ' ' '\n' | grep . | sort -n | head -1)
    hi=$(echo "${peaks[plugin]}" | tr ' ' '\n' | grep . | sort -n | tail -1)
    blo=$(echo "${peaks[$base]}" | tr ' ' '\n' | grep . | sort -n | head -1)
    bhi=$(echo "${peaks[$base]}" | tr ' ' '\n' | grep . | sort -n | tail -1)
    echo "   plugin drain over $base: $(awk -v a="$lo" -v b="$hi" -v c="$blo" -v d="$bhi" 'BEGIN { printf "%.1f-%.1f MB", (a - d) / 1024, (b - c) / 1024 }')"
  done
fi
