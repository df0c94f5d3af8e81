# Sourced by scripts/test and .ci/run: make sure a PostgreSQL server is running on this machine
# and that the test role exists. Fails loudly: storage tests must run on PostgreSQL too.

ensure_postgres() {
    if [ -n "${SESSHU_TEST_POSTGRES_URL:-}" ]; then
        return 0 # the caller brings its own server
    fi
    if ! command -v pg_lsclusters >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "PostgreSQL is not installed: installing postgresql-15" >&2
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
        fi
    fi
    if ! command -v pg_lsclusters >/dev/null 2>&1; then
        echo "error: PostgreSQL is not installed (Debian: apt-get install postgresql-15)," >&2
        echo "       or set SESSHU_TEST_POSTGRES_URL to an admin URL of a running server" >&2
        return 1
    fi
    local version cluster status
    read -r version cluster _ status _ < <(pg_lsclusters --no-header | head -n 1)
    if [ -z "${version:-}" ]; then
        echo "error: no PostgreSQL cluster exists (pg_createcluster 15 main)" >&2
        return 1
    fi
    if [ "$status" != online ]; then
        pg_ctlcluster "$version" "$cluster" start || {
            echo "error: PostgreSQL $version/$cluster failed to start; see /var/log/postgresql/" >&2
            return 1
        }
    fi
    local tries=0
    until runuser -u postgres -- psql -qAtc 'SELECT 1' >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ $tries -gt 30 ]; then
            echo "error: PostgreSQL $version/$cluster does not answer" >&2
            return 1
        fi
        sleep 1
    done
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qAt >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sesshu_test') THEN
    CREATE ROLE sesshu_test LOGIN PASSWORD 'sesshu_test' CREATEDB;
  END IF;
END $$;
SQL
    # Databases left behind by earlier runs (each test makes its own).
    runuser -u postgres -- psql -qAt -c "SELECT datname FROM pg_database WHERE datname LIKE 'sesshu\_t\_%'" |
        while read -r db; do runuser -u postgres -- dropdb --if-exists "$db"; done
    local port
    port=$(pg_lsclusters --no-header | awk 'NR==1 {print $3}')
    export SESSHU_TEST_POSTGRES_URL="postgres://sesshu_test:sesshu_test@127.0.0.1:${port}/postgres"
}
