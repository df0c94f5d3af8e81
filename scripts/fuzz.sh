#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30) on its corpus in fuzz/corpus/<target>,
# which grows as the fuzzer finds new paths. Needs the nightly toolchain and cargo-fuzz (installed
# from crates.io when missing). A crash stops the run, leaves the input in fuzz/artifacts/ and
# fails; `cargo +nightly fuzz run <target> <that file>` replays it. Grown inputs that came to hold
# a valid My Number are deleted afterwards (crates/domain/tests/fuzz_corpus.rs), so the corpus can
# be committed; `cargo +nightly fuzz cmin <target>` shrinks it first.
#
#   scripts/fuzz.sh            # 30 s each (what .ci/run does)
#   scripts/fuzz.sh 3600       # an hour each
#   scripts/fuzz.sh 600 key_file date_parser
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "fuzz: $t for ${seconds}s"
    if ! cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        >"$log" 2>&1; then
        # The panic's message comes before the long backtraces the tail would keep.
        grep -A2 "panicked at" "$log" >&2 || true
        tail -n 40 "$log" >&2
        echo "fuzz: $t crashed; the input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" || true
done
# Scrub even the corpus of a run that crashed above? No: a crash exits first, and its grown inputs
# are not committed until a clean run has passed through here.
SESSHU_SCRUB_CORPUS=1 cargo test -q -p sesshu-domain --test fuzz_corpus >/dev/null
