#!/usr/bin/env bash
# Compares the offline render's speed of two facecast builds, interleaved: `facecast bench --json` of
# A, then of B, PAIRS times, so that both see the same machine load. Prints, per build, the median and
# range over the pairs of the whole render (wall seconds) and of the render and smoothing per item; the
# raw reports are left in out/compare-bench/.
#
#   ./scripts/compare-bench.sh BIN_A BIN_B [PAIRS=5] [extra facecast bench arguments...]
#
# For a build of another commit: git worktree add /tmp/old REV && (cd /tmp/old && cargo build --release)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
a="$1" b="$2" pairs="${3:-5}"
shift 2; shift || true
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$root/.ort/lib/libonnxruntime.so}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
out=out/compare-bench
rm -rf "$out" && mkdir -p "$out"
for i in $(seq "$pairs"); do
  "$a" bench --json "$@" > "$out/a-$i.json"
  "$b" bench --json "$@" > "$out/b-$i.json"
done
python3 - "$out" "$pairs" "$a" "$b" <<'PY'
import json, statistics, sys
out, pairs, names = sys.argv[1], int(sys.argv[2]), {"a": sys.argv[3], "b": sys.argv[4]}
for side in "ab":
    runs = [json.load(open(f"{out}/{side}-{i}.json")) for i in range(1, pairs + 1)]
    def fig(key, sub=None):
        v = [r[key][sub] if sub else r[key] for r in runs]
        return f"{statistics.median(v):.4f} ({min(v):.4f} to {max(v):.4f})"
    print(f"{side} = {names[side]}: {pairs} runs of `bench --json` (each the median of its own runs)")
    print(f"  whole render, s:        {fig('wall_secs')}")
    print(f"  render, ms per frame:   {fig('render', 'ms_per_item')}")
    print(f"  encode, ms per frame:   {fig('encode', 'ms_per_item')}")
    print(f"  motion, ms per hop:     {fig('motion', 'ms_per_item')}")
    key = "smooth" if "smooth" in runs[0] else "rig"
    print(f"  {key + ', ms per hop:':<24}{fig(key, 'ms_per_item')}")
PY
