#!/usr/bin/env bash
# Checks that an MP4 plays in Chromium: installs Debian's chromium and playwright-core (into
# .npm-tools, git-ignored) if missing, serves the file on 127.0.0.1, plays it headless and prints
# what the browser decoded. Usage: scripts/check-chromium.sh [out/demo.mp4]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mp4="${1:-out/demo.mp4}"
[ -f "$mp4" ] || { echo "no $mp4; run scripts/demo.sh first" >&2; exit 1; }
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if [ ! -d .npm-tools/node_modules/playwright-core ]; then
  mkdir -p .npm-tools && (cd .npm-tools && printf '{"name":"facecast-npm-tools","private":true}\n' > package.json && npm install --silent playwright-core@1.64.1)
fi
dir="$(dirname "$mp4")"
port=$((20000 + RANDOM % 20000))
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
# ESM resolves packages from the script's own folder, so run a copy that sits beside node_modules.
cp scripts/chromium_playback.mjs .npm-tools/
node .npm-tools/chromium_playback.mjs "http://127.0.0.1:$port/$(basename "$mp4")" "$dir/chromium_playback.png"
