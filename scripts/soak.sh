#!/usr/bin/env bash
# The live soak: the documented command behind the soak figures in README.md.
#
#   ./scripts/soak.sh [MINUTES] [extra facecast live arguments...]
#
# Runs a release `facecast live` for MINUTES (default 60), headless, with the control API as its audio
# source (--input api) and the WHEP server on the same loopback port. A feeder keeps it speaking without
# a break: real speech (tests/data/lipsync/real_clips.wav, 62 s of read speech, a phone call and a public
# speech) is POSTed to /speak whenever the queue behind the utterance playing is empty. Meanwhile WHEP viewers (examples/whep_viewers.rs, the webrtc crate's clients) join
# and leave without a break: one to three at a time, each staying about five seconds. Every 30 s it
# samples the process (resident memory, open file descriptors, threads) and its /metrics (frames,
# drops, viewers, speech queue) into out/soak/samples.jsonl, and at the end prints a summary: the
# resident memory at the end against the sample at five minutes (the warm-up: the encoder, the WebRTC
# stack and the allocator reach their working size), and the descriptor and thread counts at the end
# against their first sample. Needs no GPU, sound card or display.
#
# FACECAST_BIN runs another build instead (no build then).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
minutes="${1:-60}"
shift || true
./scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
bin="${FACECAST_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --locked --quiet --bin facecast
  bin=./target/release/facecast
fi
cargo build --release --locked --quiet --example whep_viewers
viewers=./target/release/examples/whep_viewers
out="$root/out/soak"
rm -rf "$out"
mkdir -p "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
secs=$((minutes * 60))

"$bin" live --input api --output "whep:127.0.0.1:$port" \
  --control "127.0.0.1:$port" --duration "$secs" --stats-json "$out/stats.json" "$@" 2>"$out/facecast.log" &
live=$!
churn=""
feeder=""
cleanup() {
  [ -n "$churn" ] && kill "$churn" 2>/dev/null || true
  [ -n "$feeder" ] && kill "$feeder" 2>/dev/null || true
  kill -INT "$live" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

# Viewers join and leave: 1-3 at a time, about 5 s each (2 s to connect and get a keyframe, 3 s counted);
# every other group leaves with a DELETE (a WHEP player), the others vanish (a closed tab: the server
# keeps such a viewer until ICE fails, about 8 s).
(
  n=0
  while kill -0 "$live" 2>/dev/null; do
    n=$((n % 3 + 1))
    leave=()
    [ $((n % 2)) = 1 ] && leave=(--delete)
    "$viewers" "http://127.0.0.1:$port" --viewers "$n" --seconds 3 "${leave[@]}" >>"$out/viewers.jsonl" 2>>"$out/viewers.log" || true
  done
) &
churn=$!

# Speech without a break: a clip is queued whenever nothing waits behind the one playing.
(
  while kill -0 "$live" 2>/dev/null; do
    queue=$(curl -s --max-time 5 "http://127.0.0.1:$port/health" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["queue"])' 2>/dev/null || echo 1)
    if [ "$queue" = 0 ]; then
      curl -s --max-time 30 -X POST -H 'Content-Type: audio/wav' \
        --data-binary @tests/data/lipsync/real_clips.wav "http://127.0.0.1:$port/speak" >>"$out/speak.log" || true
      echo >>"$out/speak.log"
    fi
    sleep 2
  done
) &
feeder=$!

sample() {
  python3 - "$live" "$port" "$1" "$out/stats.json" <<'PY'
import json, os, sys, time, urllib.request
pid, port, t = sys.argv[1], sys.argv[2], float(sys.argv[3])
status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
row = {"t_secs": t, "rss_kb": int(status["VmRSS"].split()[0]), "threads": int(status["Threads"]),
       "fds": len(os.listdir(f"/proc/{pid}/fd"))}
try:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            if name in ("facecast_frames_total", "facecast_frames_dropped_total", "facecast_viewers",
                        "facecast_speech_queue_length", "facecast_utterances_total"):
                row[name.removeprefix("facecast_")] = float(value)
except OSError as e:
    row["metrics_error"] = str(e)
try:  # written every 10 s
    stats = json.load(open(sys.argv[4]))
    for key in ("frames_dropped", "audio_overruns", "hops_dropped", "poses_dropped"):
        row[key] = stats[key]
except (OSError, ValueError, KeyError):
    pass
print(json.dumps(row), flush=True)
PY
}

start=$(date +%s)
while kill -0 "$live" 2>/dev/null; do
  now=$(($(date +%s) - start))
  sample "$now" >>"$out/samples.jsonl" 2>/dev/null || true
  sleep 30
done
wait "$live" || true
kill "$churn" "$feeder" 2>/dev/null || true
wait "$churn" "$feeder" 2>/dev/null || true
churn=""
feeder=""
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(f"{out}/samples.jsonl")]
sessions = [json.loads(l) for l in open(f"{out}/viewers.jsonl") if l.strip()]
stats = json.load(open(f"{out}/stats.json"))
warm = next((r for r in rows if r["t_secs"] >= 300), rows[0])
last = rows[-1]
fps = [v["fps"] for s in sessions for v in s["per_viewer"]]
summary = {
    "minutes": round(last["t_secs"] / 60, 1),
    "rss_mb_first": round(rows[0]["rss_kb"] / 1024, 1),
    "rss_mb_at_5_min": round(warm["rss_kb"] / 1024, 1),
    "rss_mb_end": round(last["rss_kb"] / 1024, 1),
    "rss_mb_max": round(max(r["rss_kb"] for r in rows) / 1024, 1),
    "rss_change_after_warmup_percent": round((last["rss_kb"] / warm["rss_kb"] - 1) * 100, 2),
    "fds_first_end_max": [rows[0]["fds"], last["fds"], max(r["fds"] for r in rows)],
    "threads_first_end_max": [rows[0]["threads"], last["threads"], max(r["threads"] for r in rows)],
    "viewers_counted_max": max(r.get("viewers", 0) for r in rows),
    "speech_queue_max": max(r.get("speech_queue_length", 0) for r in rows),
    "utterances": last.get("utterances_total"),
    "viewer_sessions": len(sessions),
    "viewers_connected": sum(s["viewers"] for s in sessions),
    "viewer_fps_min": round(min(fps), 2) if fps else None,
    "viewer_fps_median": round(sorted(fps)[len(fps) // 2], 2) if fps else None,
    "frames": stats.get("frames_rendered"),
    "frames_dropped": stats.get("frames_dropped"),
    "audio_overruns": stats.get("audio_overruns"),
    "hops_dropped": stats.get("hops_dropped"),
    "poses_dropped": stats.get("poses_dropped"),
    "measured_fps": round(stats.get("measured_fps", 0), 2),
}
json.dump(summary, open(f"{out}/summary.json", "w"))
print(json.dumps(summary))
PY
