#!/usr/bin/env bash
# Runs every fuzz target in turn for MINUTES each (default 15) and prints one line per target: runs,
# coverage, corpus size and whether it found anything. Logs in out/fuzz/; a finding lands in
# fuzz/artifacts/TARGET/ and stops that target (libFuzzer prints the input's path).
#   ./fuzz/run.sh [MINUTES] [TARGET...]
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); builds the targets and the seeds first.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
minutes="${1:-15}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(audio_decode config_parse image_decode whep_offer)
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O --debug-assertions || exit 1
[ -d corpus ] || ./seed.sh >/dev/null
logs=../out/fuzz
mkdir -p "$logs"
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cargo fuzz run -O --debug-assertions "$t" "corpus/$t" -- -max_total_time=$((minutes * 60)) \
    -rss_limit_mb=2560 -max_len=65536 -timeout=10 -print_final_stats=1 >"$logs/$t.log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1)
  found=$(grep -c '^artifact_prefix\|Test unit written to' "$logs/$t.log")
  echo "$t: ${minutes} min, ${runs:-?} runs, ${cov:-cov ?}, corpus $(ls "corpus/$t" | wc -l), exit $rc, findings $found"
done
