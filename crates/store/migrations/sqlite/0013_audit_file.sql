-- The audit log moves to its own file, attached to every connection as `audit` (lib.rs:
-- sesshu.audit.db beside sesshu.db). An entry is written on every request, and any write to the
-- register's file makes every reader drop its cached pages of the register (BENCHMARKS.md,
-- issue 5). Unqualified names still find the table; its triggers must live beside it.
CREATE TABLE audit.audit_log (
    municipality_code TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    at                TEXT NOT NULL,
    actor             TEXT NOT NULL,
    actor_kind        TEXT NOT NULL,
    source            TEXT,
    function          TEXT NOT NULL,
    outcome           TEXT NOT NULL,
    persons_acted     TEXT NOT NULL,
    persons_shown     TEXT NOT NULL,
    detail            TEXT NOT NULL,
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL,
    PRIMARY KEY (municipality_code, seq)
) WITHOUT ROWID;

INSERT INTO audit.audit_log SELECT * FROM main.audit_log;
DROP TABLE main.audit_log;
DELETE FROM main.sqlite_stat1 WHERE tbl = 'audit_log';

CREATE TRIGGER audit.audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit.audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
