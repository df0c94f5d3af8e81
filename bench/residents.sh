#!/usr/bin/env bash
# Resident-import benchmarks, recorded in BENCHMARKS.md.
#   bench/residents.sh [PERSONS] [CHANGES]      (defaults: 1000000 10000)
#   BACKENDS=postgres bench/residents.sh         (one half only: sqlite or postgres)
# Measures, in one run on the same rows: sqlite3's own .import, sesshu's full import into SQLite
# (Shift_JIS, My Number sealing and blind index included), a re-import, a diff; PostgreSQL's COPY
# and sesshu's import into PostgreSQL; peak memory for a tenth of the rows and for all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
PERSONS=${1:-1000000}
BACKENDS=${BACKENDS:-sqlite postgres}
CHANGES=${2:-10000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sesshu-target}"
for tool in sqlite3 psql /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install sqlite3 postgresql-client time)" >&2; exit 1; }
done
cargo build --release --locked -p sesshu-cli >/dev/null
BIN="$CARGO_TARGET_DIR/release/sesshu"
W=$(mktemp -d /var/tmp/sesshu-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1/($3-$2):,.0f}')"; }
secs() { python3 -c "print(f'{$2-$1:.2f}')"; }

echo "persons: $PERSONS, changes: $CHANGES, machine: $(nproc) cores, $(uname -m)"
"$BIN" demo generate --persons "$PERSONS" --seed 1 --as-of 2026-04-01 --encoding sjis --out full.sjis.csv \
    --changes "$CHANGES" --changes-out diff.sjis.csv
"$BIN" demo generate --persons "$PERSONS" --seed 1 --as-of 2026-04-01 --encoding utf8 --out full.utf8.csv
echo "feed: $(du -h full.sjis.csv | cut -f1) Shift_JIS"

export SESSHU_KEY_FILE="$W/sesshu.key" SESSHU_LOG=warn,sqlx=error
run_import() { # url file mode label
    local t0 t1 out
    t0=$(now)
    out=$(/usr/bin/time -f "%M" -o mem.txt env SESSHU_DATABASE_URL="$1" "$BIN" import residents "$2" --mode "$3" --json || true)
    t1=$(now)
    local rows
    rows=$(python3 -c "import json,sys; s=json.loads(sys.argv[1]); print(s['total_rows'])" "$out")
    echo "$4 $(secs "$t0" "$t1") s  $(rate "$rows" "$t0" "$t1") rows/s  peak $(( $(cat mem.txt) / 1024 )) MiB  $(python3 -c "import json,sys; s=json.loads(sys.argv[1]); print({k: s[k] for k in ('inserted','updated','unchanged','rejected')})" "$out")"
}

if [[ " $BACKENDS " == *" sqlite "* ]]; then
    t0=$(now); sqlite3 plain.db ".mode csv" ".import full.utf8.csv plain"; t1=$(now)
    echo "sqlite3 .import (UTF-8, plain table):      $(secs "$t0" "$t1") s  $(rate "$PERSONS" "$t0" "$t1") rows/s"

    SQLITE="sqlite://$W/sesshu.db"
    SESSHU_DATABASE_URL="$SQLITE" "$BIN" init --municipality 132098 --name bench >/dev/null
    run_import "$SQLITE" full.sjis.csv full "sesshu SQLite full (Shift_JIS, sealed):  "
    # SQLite alone doing the same work: the rows sesshu stored, copied into a fresh register's
    # own schema in one transaction, its secondary indexes dropped and built again.
    SESSHU_DATABASE_URL="sqlite://$W/alone.db" "$BIN" init --municipality 132098 --name bench >/dev/null
    sqlite3 alone.db "SELECT 'DROP INDEX ' || quote(name) || ';' FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'person' AND sql IS NOT NULL" > drop-sqlite.sql
    sqlite3 alone.db "SELECT sql || ';' FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'person' AND sql IS NOT NULL" > create-sqlite.sql
    { echo "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA threads = 2;"
      echo "ATTACH 'sesshu.db' AS src; BEGIN;"; cat drop-sqlite.sql
      echo "INSERT INTO main.person SELECT * FROM src.person;"; cat create-sqlite.sql; echo "COMMIT;"; } > alone-sqlite.sql
    t0=$(now); sqlite3 alone.db < alone-sqlite.sql >/dev/null; t1=$(now)
    echo "SQLite alone (the rows into the register's schema + CREATE INDEX): $(secs "$t0" "$t1") s  $(rate "$PERSONS" "$t0" "$t1") rows/s"
    rm -f alone.db alone.db-wal alone.db-shm alone.audit.db*
    run_import "$SQLITE" full.sjis.csv full "sesshu SQLite re-import (no change):     "
    run_import "$SQLITE" diff.sjis.csv diff "sesshu SQLite diff ($CHANGES changes):        "

    # Memory must not grow with the file: a tenth of the rows for comparison.
    head -n $((PERSONS / 10 + 1)) full.sjis.csv > tenth.sjis.csv
    SMALL="sqlite://$W/small.db"
    rm -f small.db; SESSHU_DATABASE_URL="$SMALL" "$BIN" init --municipality 132098 --name bench >/dev/null
    run_import "$SMALL" tenth.sjis.csv full "sesshu SQLite full, a tenth of the rows:  "

fi

if [[ " $BACKENDS " == *" postgres "* ]] && [ "$(id -u)" = 0 ] && command -v pg_lsclusters >/dev/null; then
    . "$OLDPWD/scripts/postgres.sh"
    cd / && SESSHU_TEST_POSTGRES_URL='' ensure_postgres && cd "$W" # runuser cannot enter the private work directory
    (cd / && runuser -u postgres -- psql -qc "DROP DATABASE IF EXISTS sesshu_bench" -c "CREATE DATABASE sesshu_bench OWNER sesshu_test" >/dev/null)
    PG="postgres://sesshu_test:sesshu_test@127.0.0.1:5432/sesshu_bench"
    cols=$(head -n 1 full.utf8.csv | tr -d '\r' | sed 's/,/ text, /g; s/$/ text/')
    psql "$PG" -qc "CREATE TABLE plain ($cols)"
    t0=$(now); psql "$PG" -qc "\\copy plain FROM 'full.utf8.csv' WITH (FORMAT csv, HEADER true)"; t1=$(now)
    echo "PostgreSQL COPY (UTF-8, plain table):      $(secs "$t0" "$t1") s  $(rate "$PERSONS" "$t0" "$t1") rows/s"
    SESSHU_DATABASE_URL="$PG" "$BIN" init --municipality 132098 --name bench >/dev/null
    run_import "$PG" full.sjis.csv full "sesshu PostgreSQL full (Shift_JIS, sealed):"
    # PostgreSQL alone doing the same work: the rows sesshu stored, COPY'd into a fresh register's
    # own schema in one transaction, its secondary indexes dropped and built again.
    psql "$PG" -qc "\\copy (SELECT * FROM person) TO 'person.copy'"
    (cd / && runuser -u postgres -- psql -qc "DROP DATABASE IF EXISTS sesshu_alone" -c "CREATE DATABASE sesshu_alone OWNER sesshu_test" >/dev/null)
    ALONE="postgres://sesshu_test:sesshu_test@127.0.0.1:5432/sesshu_alone"
    SESSHU_DATABASE_URL="$ALONE" "$BIN" init --municipality 132098 --name bench >/dev/null
    psql "$ALONE" -Atqc "SELECT 'DROP INDEX ' || quote_ident(c.relname) || ';' FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'person'::regclass AND NOT i.indisprimary" > drop.sql
    psql "$ALONE" -Atqc "SELECT pg_get_indexdef(i.indexrelid) || ';' FROM pg_index i WHERE i.indrelid = 'person'::regclass AND NOT i.indisprimary" > create.sql
    { echo "BEGIN;"; cat drop.sql; echo "\\copy person FROM 'person.copy'"; cat create.sql; echo "COMMIT;"; } > alone.sql
    t0=$(now); psql "$ALONE" -q -v ON_ERROR_STOP=1 -f alone.sql; t1=$(now)
    echo "PostgreSQL alone (COPY + CREATE INDEX into the register's schema): $(secs "$t0" "$t1") s  $(rate "$PERSONS" "$t0" "$t1") rows/s"
    (cd / && runuser -u postgres -- psql -qc "DROP DATABASE IF EXISTS sesshu_alone" >/dev/null)
    run_import "$PG" diff.sjis.csv diff "sesshu PostgreSQL diff ($CHANGES changes):    "
    (cd / && runuser -u postgres -- psql -qc "DROP DATABASE IF EXISTS sesshu_bench" >/dev/null)
elif [[ " $BACKENDS " == *" postgres "* ]]; then
    echo "PostgreSQL part skipped (needs root and a local cluster)"
fi
