#!/usr/bin/env bash
# The whole test suite, the way CI runs it (.ci/run calls exactly this): installs what is missing
# (scripts/setup.sh), then format check, clippy with -D warnings (all targets), rustdoc with
# -D warnings, and every test (unit, integration, doc). GPU tests run on the lavapipe software adapter.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/setup.sh
# Mesa's Vulkan loader looks for a runtime dir; give it one on headless machines.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One build from scratch: incremental state would only add a gigabyte or more to the target folder.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
step() { printf '\n== %s\n' "$*" >&2; }
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings
step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
step "cargo test"
# Doc tests first, so the run closes on the main suite's summary.
cargo test --doc --locked
cargo test --all-targets --locked
