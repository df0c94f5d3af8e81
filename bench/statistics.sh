#!/usr/bin/env bash
# Statistics benchmarks (issue 18), recorded in BENCHMARKS.md.
#   bench/statistics.sh [PERSONS] [COPIES]      (defaults: 1000000 3)
#   BACKENDS="sqlite postgres" (the default) names the halves to run.
#   DOSES=15000000 tops the table up to that many rows with one more, partial, copy.
# A synthetic town of PERSONS with realistic histories is imported through sesshu (residents,
# then doses in pieces of 1,000,000 rows, each dose judged by the engine). The dose table is
# then grown to about 15 doses a person by COPIES copies of every dose row, each shifted 4, 8,
# 12 … years back (so the year measured keeps its own doses while the table grows). On SQLite
# and on PostgreSQL, each table through the release binary — wall time of the whole command —
# beside the database alone answering the same question with a plain `SELECT … GROUP BY` of the
# same rows (through sqlite3 / psql to /dev/null). Each pair runs twice; the second is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
PERSONS=${1:-1000000}
COPIES=${2:-3}
FY=2025
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sesshu-target}"
for tool in sqlite3 psql python3; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install sqlite3 postgresql-client)" >&2; exit 1; }
done
cargo build --release --locked -p sesshu-cli >/dev/null
BIN="$CARGO_TARGET_DIR/release/sesshu"
W=$(mktemp -d /var/tmp/sesshu-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
REPO=$PWD
cd "$W"
export SESSHU_KEY_FILE="$W/sesshu.key" SESSHU_LOG=warn,sqlx=error
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2-$1:.2f}')"; }

echo "persons: $PERSONS, copies of every dose: $COPIES, fiscal year $FY, machine: $(nproc) cores, $(uname -m)"
"$BIN" demo generate --persons "$PERSONS" --seed 1 --as-of 2026-04-01 --out town.csv --doses-out doses.csv >/dev/null
python3 - <<'PY'
rows = open("doses.csv", encoding="utf-8").read().splitlines(keepends=True)
head, body = rows[0], rows[1:]
for i in range(0, len(body), 1_000_000):
    with open(f"doses-{i // 1_000_000:02d}.csv", "w", encoding="utf-8") as f:
        f.write(head)
        f.writelines(body[i:i + 1_000_000])
PY
rm doses.csv

# The same questions, asked of the database alone (the stores' own queries without the code
# around them: the rows are counted, not judged).
ANNUAL="SELECT d.product, COALESCE(d.stage, ''), p.sex, COUNT(*) FROM dose d JOIN person p ON p.municipality_code = d.municipality_code AND p.address_number = d.address_number WHERE d.municipality_code = '132098' AND d.deleted = 0 AND d.routine = 1 AND d.judgement = 'given' AND d.given_elsewhere = 0 AND d.given_on >= '$FY-04-01' AND d.given_on <= '$((FY + 1))-03-31' GROUP BY d.product, COALESCE(d.stage, ''), p.sex"
breakdown() { # the key expression
    echo "SELECT $1 AS k, COUNT(*) FROM dose d JOIN person p ON p.municipality_code = d.municipality_code AND p.address_number = d.address_number WHERE d.municipality_code = '132098' AND d.deleted = 0 AND d.judgement = 'given' AND d.given_on >= '$FY-04-01' AND d.given_on <= '$((FY + 1))-03-31' AND d.product IN ('hib', 'dpt_ipv_hib') GROUP BY $1"
}
BORN_FROM=$((FY - 2))-04-01
BORN_TO=$FY-03-31
COHORTS="SELECT substr(p.birth_date, 1, 7), COUNT(*), SUM(CASE WHEN EXISTS (SELECT 1 FROM dose d WHERE d.municipality_code = p.municipality_code AND d.address_number = p.address_number AND d.deleted = 0 AND d.judgement = 'given' AND d.ordinal = 1 AND d.product IN ('mr', 'measles', 'rubella')) THEN 1 ELSE 0 END) FROM person p WHERE p.municipality_code = '132098' AND p.resident_status = 1 AND p.birth_date >= '$BORN_FROM' AND p.birth_date <= '$BORN_TO' GROUP BY substr(p.birth_date, 1, 7)"
# The target coverage reads each person born where the window may open, with their doses.
TARGET="SELECT p.address_number, COUNT(d.dose_id) FROM person p LEFT JOIN dose d ON d.municipality_code = p.municipality_code AND d.address_number = p.address_number AND d.deleted = 0 WHERE p.municipality_code = '132098' AND p.birth_date >= '$((FY - 2))-02-01' AND p.birth_date <= '$FY-03-31' GROUP BY p.address_number"

row() { # label, the database alone's command, then sesshu's command
    local label=$1 alone=$2; shift 2
    local t0 t1 t2 t3 round
    # Twice, the second round reported: the first warms the page cache for whichever runs next.
    for round in 1 2; do
        t0=$(now); eval "$alone" >/dev/null; t1=$(now)
        "$@" >out.txt; t2=$(now)
    done
    t3=$(python3 -c "print(f'{($t2-$t1)/max($t1-$t0, 1e-3):.2f}')")
    printf "| %s | %s s | **%s s** | %s× | %s |\n" "$label" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" "$t3" "$(python3 -c "import sys; print(' '.join(open('out.txt', encoding='utf-8').read().split())[:48])")"
}

run() { # url, the database client prefix
    local url=$1 client=$2 copy_sql
    export SESSHU_DATABASE_URL="$url"
    "$BIN" init --municipality 132098 --name bench >/dev/null
    local t0 t1
    t0=$(now)
    "$BIN" import residents town.csv --mode full --json >/dev/null
    for f in doses-*.csv; do "$BIN" import doses "$f" --json >/dev/null || true; done
    t1=$(now)
    echo "  imported through sesshu in $(secs "$t0" "$t1") s"
    local cols="municipality_code, dose_id, version, address_number, product, ordinal, given_on, judgement, institution_code, institution_name, doctor, lot, manufacturer, amount_ml, screened_on, billing_month, subsidy_yen, ticket_number, notes, given_elsewhere, antibody_result, age_at_dose, routine, evaluation, stage, deleted, import_id, source_line, recorded_at, recorded_by, change_reason"
    local k limit=""
    for k in $(seq 1 $((COPIES + 1))); do
        if [ "$k" -gt "$COPIES" ]; then
            # The partial copy that brings the table to DOSES rows, when asked for.
            local have
            have=$(q "SELECT COUNT(*) FROM dose")
            [ -n "${DOSES:-}" ] && [ "$have" -lt "$DOSES" ] || break
            limit="ORDER BY dose_id LIMIT $((DOSES - have))"
        fi
        local shifted
        if [ "$client" = sqlite ]; then
            shifted="date(given_on, '-$((4 * k)) years')"
        else
            shifted="to_char(given_on::date - interval '$((4 * k)) years', 'YYYY-MM-DD')"
        fi
        local sel=${cols/given_on,/$shifted,}
        sel=${sel/dose_id,/dose_id + $((k * 100000000)),}
        copy_sql="INSERT INTO dose ($cols) SELECT $sel FROM dose WHERE dose_id < 100000000 $limit"
        q "$copy_sql"
        if [ "$client" = sqlite ]; then q "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; fi
    done
    q "ANALYZE dose"
    q "ANALYZE person"
    echo "  persons: $(q "SELECT COUNT(*) FROM person"), doses: $(q "SELECT COUNT(*) FROM dose"), of them in FY$FY: $(q "SELECT COUNT(*) FROM dose WHERE given_on >= '$FY-04-01' AND given_on <= '$((FY + 1))-03-31'")"
    echo
    echo "| table | the database alone | sesshu | ratio | sesshu's first line |"
    echo "|---|---|---|---|---|"
    row "annual table (定期の予防接種 by vaccine, 期/回, sex)" "q \"\$ANNUAL\"" "$BIN" statistics annual --fiscal-year $FY
    row "Hib doses by month" "q \"\$(breakdown 'substr(d.given_on, 1, 7)')\"" "$BIN" statistics breakdown --series hib --fiscal-year $FY --by month
    row "Hib doses by sex" "q \"\$(breakdown 'p.sex')\"" "$BIN" statistics breakdown --series hib --fiscal-year $FY --by sex
    row "Hib doses by 町丁目" "q \"\$(breakdown 'p.address')\"" "$BIN" statistics breakdown --series hib --fiscal-year $FY --by district
    row "MR 1期 coverage by month of birth (24 cohorts)" "q \"\$COHORTS\"" "$BIN" statistics cohorts --series mr1 --dose 1 --born-from "$BORN_FROM" --born-to "$BORN_TO"
    row "MR 1期 coverage of the year's target (engine)" "q \"\$TARGET\"" "$BIN" statistics coverage --series mr1 --fiscal-year $FY
    row "influenza (65+) coverage of the year's target (engine)" "q \"SELECT p.address_number, COUNT(d.dose_id) FROM person p LEFT JOIN dose d ON d.municipality_code = p.municipality_code AND d.address_number = p.address_number AND d.deleted = 0 WHERE p.municipality_code = '132098' AND p.birth_date <= '$((FY - 64))-03-31' GROUP BY p.address_number\"" "$BIN" statistics coverage --series flu_b --fiscal-year $FY
}

BACKENDS=${BACKENDS:-sqlite postgres}
if [[ " $BACKENDS " == *" sqlite "* ]]; then
    echo "SQLite:"
    q() { sqlite3 "$W/sesshu.db" "$1"; }
    run "sqlite://$W/sesshu.db" sqlite
    rm -f "$W"/sesshu.db* "$W"/sesshu.audit.db*   # room for PostgreSQL's copy
    echo
fi

if [[ " $BACKENDS " == *" postgres "* ]] && [ "$(id -u)" = 0 ] && command -v pg_lsclusters >/dev/null; then
    . "$REPO/scripts/postgres.sh"
    # This machine's own server, started if it is not (a test URL in the environment would
    # make ensure_postgres trust it is running).
    cd / && SESSHU_TEST_POSTGRES_URL='' ensure_postgres && cd "$W"
    (cd / && runuser -u postgres -- psql -qc "DROP DATABASE IF EXISTS sesshu_bench" -c "CREATE DATABASE sesshu_bench OWNER sesshu_test" >/dev/null)
    PG="postgres://sesshu_test:sesshu_test@127.0.0.1:5432/sesshu_bench"
    echo "PostgreSQL:"
    q() { psql "$PG" -qAtc "$1"; }
    run "$PG" postgres
    (cd / && runuser -u postgres -- psql -qc "DROP DATABASE IF EXISTS sesshu_bench" >/dev/null)
fi
