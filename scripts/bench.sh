#!/usr/bin/env bash
# `make bench`: the encoder micro-benchmark, the CLI draining 1,000,000 simulator events with
# gzip (deflate level 6, as Slack and web servers send it) and without, a drain under a 50
# calls/min budget, and the Fluent Bit plugin's collect path through the host emulator (a 1 ms
# callback, the stress case, and Fluent Bit's own 1 s callback on $SMALL events). Prints
# a table and writes target/bench.json. Takes a few minutes.
#
# CPU figures are user+sys of the process (getrusage via /usr/bin/time, or /proc for the
# simulator), which a busy machine disturbs far less than wall time. The simulator runs as its
# own process with its rate limit off (except in the budget run) and its CPU is shown, so it is
# visible which side was busy. Override sizes with EVENTS=, REPEAT=, BUDGET_CALLS=.
# ONLY=plugin runs the plugin rows alone (quick, while working on the plugin's memory).
set -euo pipefail

BIN=${BIN:-target/release/slack-audit}
HOST=tests/c/build/flb_host
PLUGIN=fluent-bit-plugin/build/slack_audit.so
EVENTS=${EVENTS:-1000000}
SMALL=${SMALL:-200000}
LIMIT=${LIMIT:-9999}
REPEAT=${REPEAT:-3}
BUDGET=50
BUDGET_CALLS=${BUDGET_CALLS:-55}
BUDGET_LIMIT=1000
OUT=target/bench.json
TOKEN=xoxp-sim-token
export LC_ALL=C

work=$(mktemp -d)
sim_pid=
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# CPU seconds (user+sys, all threads) of a running process.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }

# sim_start EVENTS MAX_CALLS_PER_MINUTE [GZIP]: starts the simulator, sets $url and $sim_cpu0.
# GZIP is `true` (default: level 6 when the client asks, as Slack does) or `false`.
sim_start() {
  "$BIN" sim --events "$1" --max-calls-per-minute "$2" --gzip "${3:-true}" --gzip-level 6 --duration 900 \
    >"$work/sim.out" 2>"$work/sim.err" &
  sim_pid=$!
  for _ in $(seq 400); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
  url=$(awk '/listening/ {print $3}' "$work/sim.out")
  [ -n "$url" ] || { echo "the simulator did not start" >&2; cat "$work/sim.err" >&2; exit 1; }
  sim_cpu0=$(cpu_of "$sim_pid")
}

# sim_stop: sets $sim_cpu (CPU spent serving, dataset generation excluded) and $stats.
sim_stop() {
  stats=$(curl -sf "$url/sim/stats" || echo '{"calls": -1, "calls_429": -1, "max_calls_in_any_60s": -1}')
  sim_cpu=$(awk -v a="$(cpu_of "$sim_pid")" -v b="$sim_cpu0" 'BEGIN { printf "%.2f", a - b }')
  kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=
}

stat_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$stats" "$1"; }

# drain EVENTS LIMIT SIM_BUDGET RUN_BUDGET [GZIP]: one `run --once` against a fresh simulator;
# prints "events user sys maxrss_kb wall calls calls_429 max60 sim_cpu".
drain() {
  sim_start "$1" "$3" "${5:-true}"
  rm -rf "$work/state"
  SLACK_AUDIT_TOKEN=$TOKEN /usr/bin/time -f "%U %S %M %e" -o "$work/time" \
    "$BIN" run --once --api-url "$url/audit/v1" --state-dir "$work/state" --limit "$2" \
    --max-calls-per-minute "$4" --since 0 --progress-every 0 ${FORMAT:+--format "$FORMAT"} 2>"$work/run.err" | wc -l >"$work/lines"
  if [ "$(cat "$work/lines")" != "$1" ] || grep -q "exited with non-zero" "$work/time"; then
    # Say why (this run is then left out of the figures), instead of a bare traceback later.
    { echo "   this run failed: $(head -1 "$work/time")"; tail -3 "$work/run.err"; echo "   simulator:"; tail -3 "$work/sim.err"; } >&2
  fi
  sim_stop
  echo "$(cat "$work/lines") $(tail -1 "$work/time") $(stat_of calls) $(stat_of calls_429) $(stat_of max_calls_in_any_60s) $sim_cpu"
}

# plugin_run EVENTS CALLBACK_MS: the plugin in the host emulator against a fresh simulator;
# prints "user sys maxrss_kb wall calls sim_cpu events ring_peak_kb".
plugin_run() {
  sim_start "$1" 0
  rm -rf "$work/pstate"
  SLACK_AUDIT_FLB_TEST_TOKEN=$TOKEN /usr/bin/time -f "%U %S %M %e" -o "$work/ptime" \
    "$HOST" -n "$1" -c "$2" -t 300000 "$PLUGIN" -i -p "api_url=$url/audit/v1" -p "state_dir=$work/pstate" \
    -p "limit=$LIMIT" -p max_calls_per_minute=1000 -p token_env=SLACK_AUDIT_FLB_TEST_TOKEN -p since=0 \
    >"$work/host.out" 2>"$work/host.err" || { cat "$work/host.out" "$work/host.err" >&2; exit 1; }
  sim_stop
  echo "   $(grep '^instance' "$work/host.out") | $(cat "$work/ptime") (user sys maxrss_kb wall) sim_cpu=$sim_cpu" >&2
  echo "$(cat "$work/ptime") $(stat_of calls) $sim_cpu $(sed -n 's/.*events=\([0-9]*\).*/\1/p' "$work/host.out") $(sed -n 's/.*ring_peak_kb=\([0-9]*\).*/\1/p' "$work/host.out")"
}

if [ "${ONLY:-}" = plugin ]; then
  echo "== (ONLY=plugin) Fluent Bit plugin through the host emulator: $EVENTS events, --limit $LIMIT, callback every ${CALLBACK_MS:-1} ms"
  cargo build --release --quiet
  make -s plugin "$HOST" >/dev/null
  r=$(plugin_run "$EVENTS" "${CALLBACK_MS:-1}")
  echo "   user sys maxrss_kb wall calls sim_cpu events ring_peak_kb: $r"
  exit 0
fi

echo "== building (release, plugin, host emulator)"
cargo build --release --quiet
make -s plugin c-tests >/dev/null

echo "== encode micro-benchmark (cargo bench --bench encode)"
cargo bench --quiet --bench encode 2>/dev/null | tee "$work/encode.txt"

echo "== floor micro-benchmark: inflate + one validating pass over one page (cargo bench --bench floor)"
cargo bench --quiet --bench floor 2>/dev/null | tee "$work/floor.txt"

echo "== end to end: slack-audit run --once, $EVENTS events, --limit $LIMIT, simulator unlimited; $REPEAT runs with gzip, $REPEAT without"
: >"$work/e2e.txt"
for i in $(seq "$REPEAT"); do
  for gz in true false; do
    r=$(drain "$EVENTS" "$LIMIT" 0 1000 $gz); echo "   run $i gzip=$gz: $r"; echo "$EVENTS $r $gz" >>"$work/e2e.txt"
  done
done
r=$(drain "$SMALL" "$LIMIT" 0 1000); echo "   $SMALL events: $r"; echo "$SMALL $r true" >>"$work/e2e.txt"
r=$(FORMAT=ecs drain "$SMALL" "$LIMIT" 0 1000 true); echo "   $SMALL events, --format ecs: $r"; echo "$SMALL $r true" >"$work/ecs.txt"

budget_events=$(( (BUDGET_CALLS - 1) * BUDGET_LIMIT + BUDGET_LIMIT / 2 ))
echo "== budget: $budget_events events at --limit $BUDGET_LIMIT ($BUDGET_CALLS calls) under $BUDGET calls/min on both sides (about a minute)"
r=$(drain "$budget_events" "$BUDGET_LIMIT" "$BUDGET" "$BUDGET"); echo "   $r"; echo "$budget_events $r" >"$work/budget.txt"

echo "== Fluent Bit plugin through the host emulator: $EVENTS events, --limit $LIMIT, callback every 1 ms"
plugin_run "$EVENTS" 1 >"$work/plugin.txt"
echo "== the same, $SMALL events, callback every 1 s (Fluent Bit's fixed period)"
plugin_run "$SMALL" 1000 >"$work/plugin1s.txt"

python3 - "$work" "$OUT" "$LIMIT" "$BUDGET" "$BUDGET_LIMIT" <<'PY'
import json, sys, os, platform
work, out, limit, budget, blimit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
# ceil(events/limit): the simulator, like Slack, sends no cursor after a full last page.
def min_calls(n, l): return -(-n // l)
enc = json.load(open("target/bench-encode.json"))
floor = json.load(open("target/bench-floor.json"))
base = next(c for c in enc["cases"] if c["name"].endswith("whole page"))
def row(line):
    f = line.split()
    n, got = int(f[0]), int(f[1])
    user, sys_, rss, wall = map(float, f[2:6])
    calls, c429, max60 = map(int, f[6:9])
    return {"events": n, "gzip": len(f) < 11 or f[10] == "true", "delivered": got, "user_s": user, "sys_s": sys_, "cpu_s": round(user + sys_, 3),
            "cpu_s_per_100k": round((user + sys_) / n * 1e5, 4), "peak_rss_mb": round(rss / 1024, 1),
            "wall_s": wall, "calls": calls, "min_calls": min_calls(n, limit), "calls_429": c429,
            "max_calls_in_any_60s": max60, "simulator_cpu_s": float(f[9])}
# A failed drain (reported above) is left out.
e2e = [row(l) for l in open(f"{work}/e2e.txt") if int(l.split()[1]) == int(l.split()[0])]
b = row(open(f"{work}/budget.txt").read()); b["min_calls"] = min_calls(b["events"], blimit)
# The collector's window is 60.5 s: call k (0-based) cannot start before (k // budget) * 60.5 s.
b["wall_bound_s"] = round((b["calls"] - 1) // budget * 60.5, 1)
b["wall_over_bound"] = round(b["wall_s"] / b["wall_bound_s"], 3) if b["wall_bound_s"] else None
def plugin_row(name, callback_ms):
    pu, ps, prss, pwall, pcalls, psim, pev, pring = open(f"{work}/{name}").read().split()
    pev = int(pev)
    return {"callback_ms": callback_ms, "events": pev, "cpu_s": round(float(pu) + float(ps), 3),
            "cpu_s_per_100k": round((float(pu) + float(ps)) / pev * 1e5, 4),
            "events_per_s": round(pev / float(pwall)), "wall_s": float(pwall), "peak_rss_mb": round(int(prss) / 1024, 1),
            "calls": int(pcalls), "simulator_cpu_s": float(psim), "host_ring_peak_mb": round(int(pring) / 1024, 1)}
plugin = plugin_row("plugin.txt", 1)
plugin_1s = plugin_row("plugin1s.txt", 1000)
big = [r for r in e2e if r["events"] == e2e[0]["events"]]
# Lowest and median CPU per 100k events, with and without gzip (noise on a shared machine only adds).
def summary(gz):
    v = sorted(r["cpu_s_per_100k"] for r in big if r["gzip"] == gz)
    return {"runs": len(v), "min": v[0], "median": v[len(v) // 2]} if v else None
cpu_per_100k = {"gzip": summary(True), "identity": summary(False)}
wall_1m = (min_calls(e2e[0]["events"], limit) - 1) // budget * 60.5
cpu = lambda k: {r[k] for r in big}
model = open("/proc/cpuinfo").read().split("model name")[1].split(":", 1)[1].split("\n")[0].strip()
machine = {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(), "loadavg_at_end": os.getloadavg()}
ecs = row(open(f"{work}/ecs.txt").read())
raw_small = next(r for r in e2e if r["events"] == ecs["events"])
ecs["cpu_over_raw"] = round(ecs["cpu_s"] / raw_small["cpu_s"], 2)
ecs["wall_over_raw"] = round(ecs["wall_s"] / raw_small["wall_s"], 2)
res = {"machine": machine, "encode": enc, "floor": floor, "e2e": e2e, "cpu_s_per_100k": cpu_per_100k, "budget": b, "plugin": plugin, "plugin_1s": plugin_1s,
       "budget_wall_bound_for_e2e_s": wall_1m, "ecs": ecs}
json.dump(res, open(out, "w"), indent=2)

print()
print(f"machine: {machine['nproc']} x {model}; load average at the end {machine['loadavg_at_end'][0]:.2f}")
print(f"{'encode (one 9,999-entry page)':<44}{'MB/s':>10}{'events/s':>14}{'x IgnoredAny':>14}   target")
for c in enc["cases"]:
    t = {"ndjson_line": "<= 2.0x", "fluent_bit_record": "<= 3.0x"}.get(c["name"], "")
    print(f"{c['name']:<44}{c['mb_per_s']:>10.0f}{c['events_per_s']:>14.0f}{c['ratio_to_ignored_any']:>14.2f}   {t}")
print()
print(f"{'drain (run --once, --limit %d)' % limit:<32}{'gzip':>6}{'events':>9}{'cpu s':>7}{'/100k':>7}{'RSS MB':>8}{'wall s':>8}{'calls':>7}{'min':>5}{'429':>5}{'sim cpu':>9}")
for r in e2e:
    print(f"{'':<32}{'yes' if r['gzip'] else 'no':>6}{r['events']:>9}{r['cpu_s']:>7.2f}{r['cpu_s_per_100k']:>7.3f}{r['peak_rss_mb']:>8.1f}{r['wall_s']:>8.2f}{r['calls']:>7}{r['min_calls']:>5}{r['calls_429']:>5}{r['simulator_cpu_s']:>9.2f}")
fl = {c["name"]: c["cpu_s_per_100k"] for c in floor["cases"]}
floor_gz = next(v for k, v in fl.items() if k.startswith("floor:"))
floor_id = next(v for k, v in fl.items() if k.startswith("one pass:"))
for k, v in cpu_per_100k.items():
    if v:
        f = floor_gz if k == "gzip" else floor_id
        print(f"  CPU s per 100k events, {k}: lowest {v['min']:.3f}, median {v['median']:.3f} of {v['runs']} runs; "
              f"floor (micro-benchmark) {f:.3f}, lowest run {v['min'] / f:.2f}x the floor")
print(f"  targets: <= 0.10 CPU s per 100k events with gzip, <= 20 MB peak RSS, calls = min. At {budget} calls/min, "
      f"{e2e[0]['events']} events ({min_calls(e2e[0]['events'], limit)} calls) take at least {wall_1m:.1f} s.")
print(f"  --format ecs, {ecs['events']} events: {ecs['cpu_s']:.2f} CPU s vs raw {raw_small['cpu_s']:.2f} s "
      f"({ecs['cpu_over_raw']}x), wall {ecs['wall_s']:.2f} s vs {raw_small['wall_s']:.2f} s ({ecs['wall_over_raw']}x); "
      f"target <= 2.0x; peak RSS {ecs['peak_rss_mb']} MB")
print()
print(f"budget run: {b['events']} events, --limit {blimit}, {budget}/min on both sides: {b['calls']} calls (min {b['min_calls']}), "
      f"{b['calls_429']} x 429, at most {b['max_calls_in_any_60s']} calls in any 60 s, wall {b['wall_s']:.1f} s vs bound {b['wall_bound_s']} s "
      f"({b['wall_over_bound']}x; target within 1.05x)")
print()
for p in (plugin, plugin_1s):
    print(f"plugin (flb_host, callback every {p['callback_ms']} ms): {p['events']} events, {p['events_per_s']} events/s, "
          f"{p['cpu_s']:.2f} CPU s ({p['cpu_s_per_100k']:.3f} per 100k, host emulator's msgpack checks included), "
          f"peak RSS {p['peak_rss_mb']} MB (target <= 25 MB; of it, the host emulator's ring of record copies peaked at "
          f"{p['host_ring_peak_mb']} MB), {p['calls']} calls, simulator CPU {p['simulator_cpu_s']:.2f} s")
print(f"\nwrote {out}")
PY
