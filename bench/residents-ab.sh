#!/usr/bin/env bash
# A/B of two sesshu binaries on the resident import, recorded in BENCHMARKS.md.
#   bench/residents-ab.sh OLD_BIN NEW_BIN [PERSONS] [CHANGES] [ROUNDS]
# One register of PERSONS is loaded once; each round copies it (with its audit file, which must
# travel with it) for every run, and alternates the binaries on the same diff and re-import, so
# the machine's slow and fast moments fall on both alike.
set -euo pipefail
OLD=$(realpath "$1"); NEW=$(realpath "$2")
PERSONS=${3:-1000000}; CHANGES=${4:-10000}; ROUNDS=${5:-3}
W=$(mktemp -d /var/tmp/sesshu-ab.XXXXXX); trap 'rm -rf "$W"' EXIT; cd "$W"
export SESSHU_KEY_FILE="$W/sesshu.key" SESSHU_LOG=warn,sqlx=error
"$NEW" demo generate --persons "$PERSONS" --seed 1 --as-of 2026-04-01 --encoding sjis \
    --out full.csv --changes "$CHANGES" --changes-out diff.csv
SESSHU_DATABASE_URL="sqlite://$W/base.db" "$NEW" init --municipality 132098 --name bench >/dev/null
SESSHU_DATABASE_URL="sqlite://$W/base.db" "$NEW" import residents full.csv --mode full --json >/dev/null
timed() {
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }
    e=$(date +%s.%N)
    python3 -c "print(f'{$e-$s:.2f}')"
}
fresh() { rm -f t.db* t.audit.db*; cp base.db t.db; cp base.audit.db t.audit.db; }
for i in $(seq "$ROUNDS"); do
    for who in old new; do
        bin=$OLD; [ "$who" = new ] && bin=$NEW
        fresh; d=$(timed env SESSHU_DATABASE_URL="sqlite://$W/t.db" "$bin" import residents diff.csv --mode diff --json)
        fresh; r=$(timed env SESSHU_DATABASE_URL="sqlite://$W/t.db" "$bin" import residents full.csv --mode full --json)
        echo "round $i $who: diff $d s  re-import $r s"
    done
done
