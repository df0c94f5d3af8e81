#!/usr/bin/env bash
# Recall and document benchmarks (issue 6), recorded in BENCHMARKS.md.
#   bench/notices.sh [PERSONS]      (default: 1000000)
# On one SQLite database holding a synthetic town of PERSONS with realistic histories:
# 1. the extraction (dry run, with the second check) of the targets of several series;
# 2. issuing the notices of the largest cohort as single-page PDFs (pages/s, peak memory),
#    against a small cohort's peak memory: flat memory means the two peaks are alike.
set -euo pipefail
cd "$(dirname "$0")/.."
PERSONS=${1:-1000000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sesshu-target}"
command -v /usr/bin/time >/dev/null || { echo "bench needs GNU time (apt-get install time)" >&2; exit 1; }
cargo build --release --locked -p sesshu-cli >/dev/null
BIN="$CARGO_TARGET_DIR/release/sesshu"
W=$(mktemp -d /var/tmp/sesshu-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export SESSHU_KEY_FILE="$W/sesshu.key" SESSHU_LOG=warn,sqlx=error SESSHU_DATABASE_URL="sqlite://$W/sesshu.db"
j() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($1)" "$2"; }

echo "persons: $PERSONS, machine: $(nproc) cores, $(uname -m)"
"$BIN" demo generate --persons "$PERSONS" --seed 1 --as-of 2026-04-01 --out town.csv --doses-out doses.csv >/dev/null
"$BIN" init --municipality 132098 --name bench >/dev/null
"$BIN" import residents town.csv --mode full --json >/dev/null
"$BIN" import doses doses.csv --json >/dev/null || true

extract() { # label, then the query
  local label=$1; shift
  local out
  out=$(/usr/bin/time -f "%e %M" -o t.txt "$BIN" notices extract --json --sample 0 --as-of 2026-04-01 "$@")
  read -r wall mem < t.txt
  echo "extract $label: $(j 'd["count"]' "$out") targets of $(j 'd["examined"]' "$out") examined; selection+check $(j 'd["seconds"]' "$out") s, whole command ${wall} s, peak $((mem / 1024)) MiB"
}
extract "hib dose 1, 2026-05 cohort" --series hib --dose 1 --from 2026-05-01 --to 2026-05-31
extract "mr2 FY2026" --series mr2 --from 2026-04-01 --to 2027-03-31
extract "hpv catch-up not complete" --series hpv --basis open --from 2026-04-01 --to 2027-03-31
extract "hz_b FY2026" --series hz_b --from 2026-04-01 --to 2027-03-31
extract "flu_b 2026 season (all elderly)" --series flu_b --basis open --from 2026-10-01 --to 2027-01-31

issue() { # label, then the query
  local label=$1; shift
  local out
  out=$(/usr/bin/time -f "%e %M" -o t.txt "$BIN" notices issue --json --as-of 2026-04-01 --out "out-$label" "$@")
  read -r wall mem < t.txt
  echo "issue $label: $(j 'd["persons"]' "$out") notices, $(j 'd["pages"]' "$out") pages in $(j 'd["seconds"]' "$out") s = $(j 'd["pages_per_second"]' "$out") pages/s (command ${wall} s), peak $((mem / 1024)) MiB, $(du -sh "out-$label" | cut -f1) on disk"
}
issue small --series hib --dose 1 --from 2026-05-01 --to 2026-05-31
issue large --series hz_b --from 2026-04-01 --to 2027-03-31
