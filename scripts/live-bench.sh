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

. scripts/desktop.sh
start_desktop "$runtime" 800x600 facecast_bench

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
