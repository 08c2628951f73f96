#!/usr/bin/env bash
# `make bench-peers`: slack-audit, helr 0.7.0 and Slack's Python SDK (slack_sdk 3.47,
# AuditLogsClient) each drain the same simulator dataset in one run: 100,000 events, limit 9999.
# Two datasets (DATASETS="classic varied"): the simulator's classic entries gzipped at level 6,
# and its varied entries (shaped like Slack's answers: `\/` and `\uXXXX` escapes, every entity
# type, varied `details`, long user agents, IPv6) gzipped at level 9. Prints user+sys CPU, peak
# RSS and events per collector, the ratios to slack-audit, and slack-audit's CPU against the
# floor of the same data (inflate + one JSON pass, `cargo bench --bench floor`; FLOOR=0 skips
# it). Not part of `make test`.
#
# Peers are installed on first use into $PEERS (default .tools/): helr with
# `cargo install helr --version 0.7.0 --locked` (several minutes to build), slack_sdk with pip
# into a venv. Their configs are bench/peers/helr.yaml and bench/peers/slack_sdk_drain.py.
# Override with EVENTS=, LIMIT=, REPEAT= (runs per collector; the lowest CPU is kept).
set -euo pipefail

BIN=${BIN:-target/release/slack-audit}
PEERS=${PEERS:-.tools}
EVENTS=${EVENTS:-100000}
LIMIT=${LIMIT:-9999}
REPEAT=${REPEAT:-3}
DATASETS=${DATASETS:-classic varied}
FLOOR=${FLOOR:-1}
HELR_VERSION=0.7.0
SDK_SPEC='slack-sdk==3.47.*'
TOKEN=xoxp-sim-token
OUT_DIR=target
export LC_ALL=C NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

mkdir -p "$PEERS"
PEERS=$(cd "$PEERS" && pwd)
HELR=$PEERS/bin/helr
VENV=$PEERS/slack-sdk-venv

work=$(mktemp -d)
sim_pid=
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building slack-audit (release)"
cargo build --release --quiet

if ! "$HELR" --version 2>/dev/null | grep -q "$HELR_VERSION"; then
  echo "== installing helr $HELR_VERSION into $PEERS (cargo install, takes minutes)"
  cargo install helr --version "$HELR_VERSION" --locked --root "$PEERS" --quiet
fi
if ! "$VENV/bin/python" -c 'import slack_sdk' 2>/dev/null; then
  echo "== installing $SDK_SPEC into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "$SDK_SPEC"
fi
sdk_version=$("$VENV/bin/python" -c 'import slack_sdk.version as v; print(v.__version__)')
helr_version=$("$HELR" --version | awk '{print $NF}')

cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# The floor of each dataset (inflate + one JSON pass over a 9,999-entry page), CPU s per 100k.
if [ "$FLOOR" = 1 ]; then
  echo "== floor bench (cargo bench --bench floor)"
  nice cargo bench --quiet --bench floor >"$work/floor.txt" 2>&1 || { tail -5 "$work/floor.txt" >&2; FLOOR=0; }
fi

# One simulator per dataset for every run: the same entries (seed 1), no rate limit.
sim_start() {
  "$BIN" sim --events "$EVENTS" --max-calls-per-minute 0 --dataset "$DATASET" --gzip-level "$LEVEL" --duration 3600 >"$work/sim.out" 2>"$work/sim.err" &
  sim_pid=$!
  for _ in $(seq 400); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
  url=$(awk '/listening/ {print $3}' "$work/sim.out")
  [ -n "$url" ] || { echo "the simulator did not start" >&2; cat "$work/sim.err" >&2; exit 1; }
}
# measure NAME CMD...: runs CMD with stdout counted; appends "NAME events bytes user sys rss_kb wall
# sim_cpu" to $work/runs.txt.
# ensure_sim: twice on a busy shared machine the simulator was gone between runs (cause not found; a
# stop on SIGINT/SIGTERM prints "sim stats"): say so and start it again (same dataset).
ensure_sim() {
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    echo "   the simulator exited; its last words: $(tail -2 "$work/sim.err" | tr '\n' ' ') - restarting it" >&2
    wait "$sim_pid" 2>/dev/null || true
    sim_start
  fi
}

measure() {
  local name=$1; shift
  local s0; s0=$(cpu_of "$sim_pid")
  if ! SLACK_AUDIT_TOKEN=$TOKEN python3 bench/rusage.py "$work/time" "$@" 2>"$work/$name.err" \
      | wc -lc >"$work/count"; then
    echo "   $name failed:" >&2; tail -5 "$work/$name.err" >&2
  fi
  local s1; s1=$(cpu_of "$sim_pid")
  local sim_cpu; sim_cpu=$(awk -v a="$s1" -v b="$s0" 'BEGIN { printf "%.2f", a - b }')
  local line; line="$name $(awk '{print $1, $2}' "$work/count") $(tail -1 "$work/time") $sim_cpu"
  echo "   $line"
  echo "$line" >>"$work/runs.txt"
}

for DATASET in $DATASETS; do
LEVEL=6; [ "$DATASET" = varied ] && LEVEL=9
rm -f "$work/runs.txt"
sim_start
echo "== $DATASET dataset: $EVENTS events, --limit $LIMIT, gzip level $LEVEL ($url); $REPEAT runs each, interleaved"
echo "   (name events stdout_bytes user_s sys_s maxrss_kb wall_s simulator_cpu_s)"
for i in $(seq "$REPEAT"); do
  rm -rf "$work/state"
  ensure_sim; measure slack-audit "$BIN" run --once --api-url "$url/audit/v1" --state-dir "$work/state" --limit "$LIMIT" \
    --max-calls-per-minute 1000 --since 0 --progress-every 0
  ensure_sim; measure helr env SIM_URL="$url" LIMIT="$LIMIT" "$HELR" run --once --config bench/peers/helr.yaml
  ensure_sim; measure slack_sdk "$VENV/bin/python" bench/peers/slack_sdk_drain.py "$url/audit/v1/" "$LIMIT"
done
ensure_sim; stats=$(curl -sf "$url/sim/stats")
kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; sim_pid=
floor=
[ -f "$work/floor.txt" ] && floor=$(awk -v d="$DATASET" '/ page: / { cur = $1 } cur == d && /^floor: inflate \+ one pass/ { sub(/^.*\(jsonscan\) +/, ""); print $3 }' "$work/floor.txt" 2>/dev/null | head -1)
OUT=$OUT_DIR/bench-peers-$DATASET.json

python3 - "$work/runs.txt" "$OUT" "$EVENTS" "$LIMIT" "$helr_version" "$sdk_version" "$stats" "$DATASET" "$LEVEL" "${floor:-}" <<'PY'
import json, os, platform, sys
runs_file, out, events, limit, helr_v, sdk_v, stats, dataset, level, floor = sys.argv[1:11]
events, limit = int(events), int(limit)
runs = {}
for line in open(runs_file):
    f = line.split()
    if len(f) != 8:
        continue
    name, n, nbytes, user, sys_, rss, wall, sim = f
    runs.setdefault(name, []).append({"events": int(n), "stdout_bytes": int(nbytes), "user_s": float(user),
        "sys_s": float(sys_), "cpu_s": round(float(user) + float(sys_), 3), "peak_rss_mb": round(int(rss) / 1024, 1),
        "wall_s": float(wall), "simulator_cpu_s": float(sim)})
labels = {"slack-audit": "slack-audit run --once", "helr": f"helr {helr_v} run --once",
          "slack_sdk": f"slack_sdk {sdk_v} AuditLogsClient"}
# The lowest-CPU complete run of each collector (the machine is shared; noise only adds).
best = {k: min(c, key=lambda r: r["cpu_s"]) for k, v in runs.items() if (c := [r for r in v if r["events"] == events])}
model = open("/proc/cpuinfo").read().split("model name")[1].split(":", 1)[1].split("\n")[0].strip()
machine = {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(), "loadavg_at_end": os.getloadavg()}
floor_s = float(floor) * events / 1e5 if floor else None
json.dump({"machine": machine, "dataset": dataset, "gzip_level": int(level), "events": events, "limit": limit,
           "runs": runs, "best": best, "floor_cpu_s": floor_s, "simulator": json.loads(stats)}, open(out, "w"), indent=2)
base = best.get("slack-audit")
print()
print(f"machine: {machine['nproc']} x {model}; load average at the end {machine['loadavg_at_end'][0]:.2f}")
print(f"{dataset} dataset: {events} events, limit {limit}, gzip level {level}; lowest-CPU run of {max(len(v) for v in runs.values())} per collector")
print(f"{'collector':<36}{'events':>9}{'cpu s':>8}{'/100k':>8}{'x cpu':>8}{'RSS MB':>8}{'x RSS':>7}{'wall s':>8}{'B/event':>9}")
for k in ["slack-audit", "helr", "slack_sdk"]:
    r = best.get(k)
    if r is None:
        print(f"{labels[k]:<36}  did not run")
        continue
    per = r["cpu_s"] / r["events"] * 1e5 if r["events"] else float("nan")
    xc = r["cpu_s"] / base["cpu_s"] if base and base["cpu_s"] else float("nan")
    xr = r["peak_rss_mb"] / base["peak_rss_mb"] if base else float("nan")
    bpe = r["stdout_bytes"] / r["events"] if r["events"] else 0
    flag = "" if r["events"] == events else f"   <- expected {events} events"
    print(f"{labels[k]:<36}{r['events']:>9}{r['cpu_s']:>8.3f}{per:>8.3f}{xc:>8.1f}{r['peak_rss_mb']:>8.1f}{xr:>7.1f}{r['wall_s']:>8.2f}{bpe:>9.0f}{flag}")
if base and floor_s:
    print(f"slack-audit against the floor of the same data (inflate + one JSON pass, {floor_s:.3f} s): {base['cpu_s'] / floor_s:.2f}x")
print(f"\nwrote {out}")
PY
done
