#!/usr/bin/env bash
# The live loop's latency benchmark: the documented command behind the figures in README.md.
#
#   ./scripts/live-bench.sh [SECONDS] [extra facecast live arguments...]
#
# Starts a private X server (Xvfb) and a private PulseAudio server with a null sink, runs
# `facecast live` from the default microphone (the null sink's monitor, through ALSA's PulseAudio
# plugin) to a window for SECONDS (default 60), and meanwhile plays the bundled speech clips into the
# sink with paplay, a clip then a second of silence, over and over. At the end it prints the summary and
# leaves the stats in out/live_stats.json (one JSON object: latency percentiles, frames, drops,
# overruns). Needs no GPU, sound card or display.
#
# FACECAST_BIN runs another build instead (no build then; for comparing two versions interleaved), and
# STATS_OUT names another stats file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${1:-60}"
shift || true
./scripts/setup.sh
bin="${FACECAST_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --locked --quiet
  bin=./target/release/facecast
fi
stats="${STATS_OUT:-out/live_stats.json}"
mkdir -p out "$(dirname "$stats")"
work="$(mktemp -d)"
runtime="$work/xdg"
mkdir -m 700 -p "$runtime"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

display=""
for n in $(seq 150 250); do
  if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=":$n"; break; fi
done
[ -n "$display" ] || { echo "live-bench: no free X display number" >&2; exit 1; }
Xvfb "$display" -screen 0 800x600x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
XDG_RUNTIME_DIR="$runtime" HOME="$runtime" pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit \
  --load="module-null-sink sink_name=facecast_bench" --load=module-native-protocol-unix >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  [ -e "/tmp/.X11-unix/X${display#:}" ] && [ -e "$runtime/pulse/native" ] && break
  sleep 0.1
done
export DISPLAY="$display" XDG_RUNTIME_DIR="$runtime" PULSE_SERVER="unix:$runtime/pulse/native"

"$bin" live --hud --duration "$secs" --stats-json "$stats" "$@" &
live=$!
pids+=($live)
(
  sleep 3
  while kill -0 "$live" 2>/dev/null; do
    for clip in assets/speech/*.wav; do
      kill -0 "$live" 2>/dev/null || break
      paplay "$clip" || true
      sleep 1
    done
  done
) &
pids+=($!)
wait "$live"
echo "stats: $stats" >&2
