#!/usr/bin/env bash
# The head-from-video figures of the README ("Use it in a video call"), on real faces:
#   1. measures each frame's head angles in .tools/head-video's two videos without facecast
#      (scripts/head_reference.py: MediaPipe's own Face Mesh and a rigid fit) into tests/data/head/;
#   2. runs `facecast live --head-from VIDEO` on each (release build; the bundled real speech as the voice)
#      and prints how its --motion-out follows them.
# Makes .venv-head (git-ignored: mediapipe 0.10.14, numpy 1.26) on first use. scripts/setup.sh fetches the
# videos. Neither set-up nor CI needs this: tests/live_head.rs reads the committed reference.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv-head"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "mediapipe==0.10.14" "numpy==1.26.4"
fi
hv="$root/.tools/head-video"
[ -f "$hv/WolfgangLanger_Pexels.mp4" ] || ./scripts/setup.sh
mkdir -p tests/data/head out/head
cargo build --release --quiet --bin facecast
export LD_LIBRARY_PATH="$root/.ort/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ffmpeg -v error -nostdin -y -i tests/data/lipsync/real_clips.wav -t 22 out/head/speech.wav
# name, video, seconds to run (inside the video), seconds from which to compare (after calibration).
for row in wolfgang_langer:WolfgangLanger_Pexels.mp4:20.5:1.5 carphone:carphone_pristine.mp4:4.3:1.2; do
  IFS=: read -r name video secs from <<<"$row"
  "$venv/bin/python" scripts/head_reference.py measure "$hv/$video" "tests/data/head/$name.csv" 2>&1 |
    grep -v -e '^W0000' -e '^I0000' -e 'SymbolDatabase' -e 'warnings.warn' || true
  FACECAST_LOG=facecast=warn ./target/release/facecast live --headless --size 256 --duration "$secs" \
    --input out/head/speech.wav --head-from "$hv/$video" --motion-out "out/head/$name.jsonl" \
    --stats-json "out/head/$name.stats.json"
  echo "$name:"
  "$venv/bin/python" scripts/head_reference.py compare "out/head/$name.jsonl" "tests/data/head/$name.csv" \
    --from-secs "$from"
done
