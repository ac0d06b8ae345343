#!/usr/bin/env bash
# The kiosk preset as a visitor meets it: configs/kiosk.toml full screen on a private X server (Xvfb,
# 1280x720), its loudspeaker a private PulseAudio server's null sink (recorded with parec), a clip
# POSTed to /speak, and screenshots of the whole screen while it speaks. Writes out/kiosk/: shot_idle.png
# and shot_NN.png (five a second from the POST on), mid_sentence.png (the shot whose mouth differs
# most from the idle one), heard.wav (what the loudspeaker played), motion.jsonl, events.txt (/events).
#   ./scripts/kiosk-shot.sh [CLIP] [extra facecast live arguments...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
clip="${1:-assets/speech/forever_4.wav}"
shift || true
./scripts/setup.sh >/dev/null
bin="${FACECAST_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --locked --quiet --bin facecast
  bin=./target/release/facecast
fi
out="$root/out/kiosk"
rm -rf "$out"
mkdir -p "$out"
runtime="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$runtime"; }
trap cleanup EXIT
. scripts/desktop.sh
start_desktop "$runtime" 1280x720 kiosk
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
parec -d kiosk.monitor --file-format=wav "$out/heard.wav" &
pids+=($!)
"$bin" live --config configs/kiosk.toml --control "127.0.0.1:$port" --duration 20 \
  --motion-out "$out/motion.jsonl" "$@" 2>"$out/facecast.log" &
live=$!
pids+=($live)
for _ in $(seq 300); do
  [ "$(curl -s "http://127.0.0.1:$port/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null)" = idle ] && break
  sleep 0.1
done
curl -sN "http://127.0.0.1:$port/events" >"$out/events.txt" &
pids+=($!)
sleep 2
import -window root "$out/shot_idle.png"
# Five screenshots a second from the POST on, for seven seconds (ffmpeg's X11 grabber).
ffmpeg -v error -f x11grab -draw_mouse 0 -video_size 1280x720 -framerate 5 -i "$DISPLAY" -t 7 -start_number 0 "$out/shot_%02d.png" &
grab=$!
curl -s -X POST -H 'Content-Type: audio/wav' --data-binary @"$clip" "http://127.0.0.1:$port/speak"
echo
wait "$grab"
# The mouth's box on a 1280x720 screen with the 720 px frame in the middle (the portrait's mouth).
mouth() { convert "$1" -crop 160x90+560+320 +repage "$2"; }
mouth "$out/shot_idle.png" "$runtime/idle_mouth.png"
best=$(for f in "$out"/shot_[0-9]*.png; do
  mouth "$f" "$runtime/mouth.png"
  d=$(compare -metric MAE "$runtime/mouth.png" "$runtime/idle_mouth.png" null: 2>&1 | cut -d' ' -f1)
  echo "$d $f"
done | sort -g | tail -1 | cut -d' ' -f2)
cp "$best" "$out/mid_sentence.png"
echo "kiosk-shot: mid-sentence: $best"
sleep 3
kill -INT "$live"
wait "$live" || true
