#!/usr/bin/env bash
# Clinic payment benchmarks (issue 18), recorded in BENCHMARKS.md.
#   bench/payments.sh [PERSONS]      (default: 30000, about 100,000 doses)
# A synthetic town's whole dose history is billed in one month (202611), then on SQLite and on
# PostgreSQL: `payments prepare` (read, judge payable, price, record every item), approve,
# `payments transfer` (the Zengin file) and `payments reconcile` of a claim holding every dose —
# wall time and peak memory — beside the database alone reading the same rows (`SELECT` of the
# month's doses with their payment, through sqlite3 / psql to /dev/null).
set -euo pipefail
cd "$(dirname "$0")/.."
PERSONS=${1:-30000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sesshu-target}"
for tool in sqlite3 psql /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install sqlite3 postgresql-client time)" >&2; exit 1; }
done
cargo build --release --locked -p sesshu-cli >/dev/null
BIN="$CARGO_TARGET_DIR/release/sesshu"
W=$(mktemp -d /var/tmp/sesshu-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export SESSHU_KEY_FILE="$W/sesshu.key" SESSHU_LOG=warn,sqlx=error
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2-$1:.2f}')"; }

echo "persons: $PERSONS, machine: $(nproc) cores, $(uname -m)"
"$BIN" demo generate --persons "$PERSONS" --seed 1 --as-of 2026-04-01 --out town.csv --doses-out doses.csv >/dev/null
# Every dose billed in 202611 (column 17, 請求年月); the clinics from the file, each with an account.
python3 - <<'PY'
import csv
rows = list(csv.reader(open("doses.csv", encoding="utf-8")))
head, body = rows[0], rows[1:]
col = head.index("請求年月")
for r in body:
    r[col] = "202611"
csv.writer(open("doses.csv", "w", encoding="utf-8", newline="")).writerows([head] + body)
inst = sorted({(r[0], r[1]) for r in body if r[0]})
with open("institutions.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["医療機関コード", "医療機関名", "受取人名カナ", "金融機関コード", "金融機関名カナ", "支店コード", "支店名カナ", "預金種目", "口座番号"])
    for i, (code, name) in enumerate(inst):
        w.writerow([code, name, "ｲ)ﾐﾎﾝｸﾘﾆﾂｸ", "0001", "ﾐｽﾞﾎ", f"{100 + i:03d}", "ﾎﾝﾃﾝ", "1", f"{i + 1:07d}"])
products = sorted({r[head.index("ワクチン")] for r in body})
with open("prices.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["ワクチン", "回数", "適用開始日", "適用終了日", "単価"])
    for p in products:
        w.writerow([p, "", "1900-01-01", "", 5000 + 100 * len(p)])
        w.writerow([p, "予診のみ", "1900-01-01", "", 2000])
with open("claim.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["医療機関コード", "宛名番号", "ワクチン", "回数", "接種日", "請求額"])
    for r in body:
        if r[0] and r[3]:
            w.writerow([r[0], r[3], r[head.index("ワクチン")], r[head.index("回数")], r[head.index("接種日")], 5000 + 100 * len(r[head.index("ワクチン")])])
PY

timed() { # label, then the command; prints wall seconds and peak memory
    local label=$1; shift
    local t0 t1
    t0=$(now)
    /usr/bin/time -f "%M" -o mem.txt "$@" >out.txt 2>err.txt || true
    t1=$(now)
    # GNU time puts "Command exited with non-zero status N" first when it did (reconcile exits 3).
    echo "$label $(secs "$t0" "$t1") s, peak $(( $(tail -n 1 mem.txt) / 1024 )) MiB  $(tail -n 1 out.txt | cut -c1-110)"
}

run() { # url, the database alone's command
    local url=$1; shift
    export SESSHU_DATABASE_URL="$url"
    "$BIN" init --municipality 132098 --name bench >/dev/null
    "$BIN" import residents town.csv --mode full --json >/dev/null
    "$BIN" import doses doses.csv --json >/dev/null || true
    "$BIN" payments prices prices.csv >/dev/null
    "$BIN" payments institutions institutions.csv >/dev/null
    "$BIN" payments requester --code 1234567890 --name ﾍﾞﾝﾁｼ --bank 0001 --bank-name ﾐｽﾞﾎ \
        --branch 001 --branch-name ﾎﾝﾃﾝ --account 1 >/dev/null
    local t0 t1
    t0=$(now); "$@" >/dev/null; t1=$(now)
    echo "  the database alone, SELECT of the month's doses: $(secs "$t0" "$t1") s"
    timed "  payments prepare:  " env SESSHU_OPERATOR=bench1 "$BIN" payments prepare 202611 --transfer-date 2099-12-25
    local run_id
    run_id=$(SESSHU_OPERATOR=bench1 "$BIN" payments runs | awk 'NR==1{print $1}')
    SESSHU_OPERATOR=bench2 "$BIN" payments approve "$run_id" >/dev/null
    timed "  payments transfer: " "$BIN" payments transfer "$run_id" --out zengin.txt
    timed "  payments reconcile:" "$BIN" payments reconcile 202611 claim.csv
}

SELECT="SELECT d.dose_id, d.address_number, d.product, d.ordinal, d.given_on, d.judgement, d.institution_code, d.routine, d.given_elsewhere, p.run_id, p.unit_yen FROM dose d LEFT JOIN payment_item p ON p.municipality_code = d.municipality_code AND p.dose_id = d.dose_id WHERE d.municipality_code = '132098' AND d.billing_month = '202611' AND d.deleted = 0 ORDER BY d.institution_code, d.given_on, d.dose_id"
echo "doses billed in 202611: $(($(wc -l < doses.csv) - 1))"
echo "SQLite:"
run "sqlite://$W/sesshu.db" sqlite3 "$W/sesshu.db" "$SELECT"

if [ "$(id -u)" = 0 ] && command -v pg_lsclusters >/dev/null; then
    . "$OLDPWD/scripts/postgres.sh"
    cd / && ensure_postgres && cd "$W"
    (cd / && runuser -u postgres -- psql -qc "DROP DATABASE IF EXISTS sesshu_bench" -c "CREATE DATABASE sesshu_bench OWNER sesshu_test" >/dev/null)
    PG="postgres://sesshu_test:sesshu_test@127.0.0.1:5432/sesshu_bench"
    echo "PostgreSQL:"
    run "$PG" psql "$PG" -qAtc "$SELECT"
    (cd / && runuser -u postgres -- psql -qc "DROP DATABASE IF EXISTS sesshu_bench" >/dev/null)
fi
