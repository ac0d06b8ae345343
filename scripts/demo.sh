#!/usr/bin/env bash
# The main job on the bundled defaults: installs what is missing (scripts/setup.sh), builds facecast in
# release mode, renders the bundled portrait speaking the bundled clip to out/demo.mp4, writes
# out/demo_sheet.png (a contact sheet to look at) and out/demo_motion.jsonl, and prints a summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
echo "demo: building facecast (release)" >&2
cargo build --release --quiet
mkdir -p out
./target/release/facecast render \
  --portrait assets/portraits/astronaut.png \
  --audio assets/speech/goforward.wav \
  --output out/demo.mp4 \
  --motion-out out/demo_motion.jsonl \
  --sheet out/demo_sheet.png
ffprobe -v error -show_entries stream=codec_name,width,height,nb_frames,duration -of compact=p=0:nk=0 out/demo.mp4
