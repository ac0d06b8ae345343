#!/usr/bin/env bash
# The WebRTC output's figures on this machine, from a release build:
#   1. server CPU with 0, 1, 5 and 10 WHEP viewers (webrtc-crate clients, examples/whep_viewers.rs),
#      the viewers' frame rates, and the encode time per frame (facecast's own stats);
#   2. the A/V offset at the receiver: Debian's Chromium opens the viewer page of `facecast live
#      --input test-pattern` and times the beeps it hears against the sync marker's flashes
#      (tests/browser/whep_check.mjs --av), RUNS times.
# Usage: scripts/whep-bench.sh [RUNS] [--size 512]; RUNS (3) is both the A/V runs and the CPU repetitions
# per viewer count. Results: out/whep-bench/*.json, one line of JSON per measurement and a summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${1:-3}"
shift || true
./scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo build --release --locked --bin facecast --example whep_viewers >&2
out="$root/out/whep-bench"
rm -rf "$out"
mkdir -p "$out"
fc="$root/target/release/facecast"
viewers="$root/target/release/examples/whep_viewers"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tck=$(getconf CLK_TCK)

wait_port() {
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "facecast did not start" >&2
  return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "== server CPU per viewer (15 s windows, $runs repetitions; $(nproc) cores)" >&2
for rep in $(seq 1 "$runs"); do
for n in 0 1 5 10; do
  "$fc" live --input test-pattern --output "whep:127.0.0.1:$port" --duration 60 "$@" \
    --stats-json "$out/stats_$n.json" 2>"$out/facecast_$n.log" &
  pid=$!
  wait_port
  if [ "$n" -gt 0 ]; then
    "$viewers" "http://127.0.0.1:$port" --viewers "$n" --seconds 20 >"$out/viewers_$n.json" &
    vpid=$!
  fi
  sleep 5
  t0=$(cpu_ticks "$pid")
  sleep 15
  t1=$(cpu_ticks "$pid")
  [ "$n" -gt 0 ] && wait "$vpid"
  kill -INT "$pid"
  wait "$pid"
  python3 - "$n" "$t0" "$t1" "$tck" "$out" "$rep" <<'PY'
import json, sys
n, t0, t1, tck, out, rep = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
cpu = (t1 - t0) / tck / 15 * 100
stats = json.load(open(f"{out}/stats_{n}.json"))
enc = (stats.get("stream") or {}).get("encode_ms") or {}
fps = []
if n:
    fps = [v["fps"] for v in json.load(open(f"{out}/viewers_{n}.json"))["per_viewer"]]
line = {"viewers": n, "cpu_percent_of_one_core": round(cpu, 1), "server_fps": round(stats["measured_fps"], 2),
        "frames_dropped": stats["frames_dropped"], "encode_ms_p50": enc.get("p50"), "encode_ms_p90": enc.get("p90"),
        "viewer_fps_min": round(min(fps), 2) if fps else None, "viewer_fps_max": round(max(fps), 2) if fps else None}
json.dump(line, open(f"{out}/cpu_{n}_{rep}.json", "w"))
print(json.dumps(line))
PY
done
done
python3 - "$out" <<'PY'
import glob, json, statistics, sys
rows = [json.load(open(f)) for f in glob.glob(f"{sys.argv[1]}/cpu_*_*.json")]
for n in sorted({r["viewers"] for r in rows}):
    cpu = sorted(r["cpu_percent_of_one_core"] for r in rows if r["viewers"] == n)
    print(json.dumps({"viewers": n, "cpu_median": statistics.median(cpu), "cpu_min": cpu[0], "cpu_max": cpu[-1]}))
# The cost of each viewer beyond the first (the first also turns the encoder on): a least-squares slope.
pts = [(r["viewers"], r["cpu_percent_of_one_core"]) for r in rows if r["viewers"] >= 1]
if len({n for n, _ in pts}) > 1:
    slope = statistics.linear_regression([n for n, _ in pts], [c for _, c in pts]).slope
    print(json.dumps({"cpu_percent_per_added_viewer": round(slope, 2)}))
PY

echo "== A/V offset at Chromium ($runs runs of 35 s; positive = the sound after the picture)" >&2
for i in $(seq 1 "$runs"); do
  "$fc" live --input test-pattern --output "whep:127.0.0.1:$port" --duration 60 "$@" 2>"$out/facecast_av$i.log" &
  pid=$!
  wait_port
  (cd tests/browser && node whep_check.mjs "http://127.0.0.1:$port/" --seconds 35 --av >"$out/av_$i.json") || true
  kill -INT "$pid"
  wait "$pid" || true
  python3 - "$out/av_$i.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a = d.get("av") or {}
offs = a.get("audio_minus_video_ms") or []
print(json.dumps({"run": sys.argv[1].rsplit("_", 1)[1][:-5], "median_ms": a.get("median_ms") and round(a["median_ms"], 1),
                  "settled_median_ms": a.get("settled_median_ms") and round(a["settled_median_ms"], 1),
                  "pairs": a.get("pairs"), "min_ms": min(offs, default=None), "max_ms": max(offs, default=None),
                  "decoded_fps": round(d["video"]["decoded_fps"], 2), "error": d.get("error")}))
PY
done
