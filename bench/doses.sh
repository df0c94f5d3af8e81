#!/usr/bin/env bash
# Dose benchmarks (issue 3), recorded in BENCHMARKS.md.
#   bench/doses.sh [PERSONS] [DOSE_ROWS]      (defaults: 1000000 1000000)
# In one run on one SQLite database: a synthetic town of PERSONS with realistic histories; the
# import of DOSE_ROWS dose rows with full evaluation against reading the same file without
# evaluating; then a forecast of every person of the town against merely reading all dose rows.
set -euo pipefail
cd "$(dirname "$0")/.."
PERSONS=${1:-1000000}
ROWS=${2:-1000000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sesshu-target}"
command -v /usr/bin/time >/dev/null || { echo "bench needs GNU time (apt-get install time)" >&2; exit 1; }
cargo build --release --locked -p sesshu-cli >/dev/null
BIN="$CARGO_TARGET_DIR/release/sesshu"
W=$(mktemp -d /var/tmp/sesshu-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export SESSHU_KEY_FILE="$W/sesshu.key" SESSHU_LOG=warn,sqlx=error SESSHU_DATABASE_URL="sqlite://$W/sesshu.db"
j() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($1)" "$2"; }

echo "persons: $PERSONS, dose rows for the import: $ROWS, machine: $(nproc) cores, $(uname -m)"
"$BIN" demo generate --persons "$PERSONS" --seed 1 --as-of 2026-04-01 --out town.csv --doses-out doses.csv
ALL=$(( $(wc -l < doses.csv) - 1 ))
echo "town: $PERSONS persons, $ALL dose rows ($(du -h doses.csv | cut -f1))"
"$BIN" init --municipality 132098 --name bench >/dev/null
"$BIN" import residents town.csv --mode full --json >/dev/null

# 1. Import ROWS dose rows with evaluation, against reading the same file without evaluating.
head -n $((ROWS + 1)) doses.csv > part.csv
tail -n +$((ROWS + 2)) doses.csv | cat <(head -n 1 doses.csv) - > rest.csv
read_only=$("$BIN" import doses part.csv --parse-only)
out=$(/usr/bin/time -f "%M" -o mem.txt "$BIN" import doses part.csv --json || true)
s_read=$(j 'd["seconds"]' "$read_only")
s_imp=$(j 'd["seconds"]' "$out")
echo "read $ROWS rows without evaluating (parse + validate): ${s_read} s  $(python3 -c "print(f'{$ROWS/$s_read:,.0f}')") rows/s"
echo "import with evaluation (match, judge, insert, SQLite):  ${s_imp} s  $(python3 -c "print(f'{$ROWS/$s_imp:,.0f}')") rows/s  ratio $(python3 -c "print(f'{$s_imp/$s_read:.1f}')")x  peak $(( $(tail -n 1 mem.txt) / 1024 )) MiB  $(j '{k: d[k] for k in ("inserted","flagged","duplicate","rejected")}' "$out")"

# 2. The rest of the town's doses, then a forecast of every person.
"$BIN" import doses rest.csv --json >/dev/null || true
due=$(/usr/bin/time -f "%M" -o mem.txt "$BIN" schedule due --as-of 2026-04-01 --baseline --json)
p=$(j 'd["persons"]' "$due"); n=$(j 'd["doses"]' "$due"); t=$(j 'd["seconds"]' "$due"); b=$(j 'd["baseline"]["seconds"]' "$due")
echo "forecast every person: $p persons, $n doses in $(python3 -c "print(f'{$t:.2f}')") s = $(python3 -c "print(f'{$p/$t:,.0f}')") persons/s; reading the dose rows alone $(python3 -c "print(f'{$b:.2f}')") s; ratio $(python3 -c "print(f'{$t/$b:.2f}')")  peak $(( $(tail -n 1 mem.txt) / 1024 )) MiB"
