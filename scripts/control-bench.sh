#!/usr/bin/env bash
# The control API's delay: from a POST /speak request's arrival to the first frame that shows its sound
# (the README's figure). Runs `facecast live --input api --control --headless` for N requests of the
# bundled clip goforward.wav (2.8 s), one every 3.2 s, and prints speak_to_frame_ms from its stats.
# With SAY="a sentence" it POSTs that text to /say instead (the TTS's time included): the mouth then
# follows espeak-ng's phone timings; `--config` with a `[tts] command` gives the same speech untimed.
#
#   ./scripts/control-bench.sh [N=15] [extra facecast live arguments...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
n="${1:-15}"
shift || true
./scripts/setup.sh
cargo build --release --locked --quiet
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p out
secs=$(python3 -c "print(4 + 3.2 * $n)")
./target/release/facecast live --input api --control "127.0.0.1:$port" --headless --duration "$secs" \
  --stats-json out/control_stats.json "$@" &
live=$!
trap 'kill $live 2>/dev/null || true' EXIT
# Until the first frame is out (the API answers while the renderer is still being built).
until curl -s "http://127.0.0.1:$port/health" | grep -q '"state":"idle"'; do sleep 0.1; done
for _ in $(seq "$n"); do
  if [ -n "${SAY:-}" ]; then
    body=$(python3 -c 'import json, sys; print(json.dumps({"text": sys.argv[1]}))' "$SAY")
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/say"
  else
    curl -s -o /dev/null -X POST -H 'Content-Type: audio/wav' --data-binary @assets/speech/goforward.wav \
      "http://127.0.0.1:$port/speak"
  fi
  sleep 3.2
done
wait "$live"
python3 -c "import json; s=json.load(open('out/control_stats.json')); print('request to frame (ms):', s['speak_to_frame_ms']); print('motion lag (ms):', s['motion_lag_ms'])"
