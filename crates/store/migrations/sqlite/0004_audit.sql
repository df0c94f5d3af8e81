-- The audit log (操作ログ): who did what to which persons, when, from where, with what outcome.
-- One hash chain per municipality ('-' for the deployment's own events): each entry's hash covers
-- its content and the previous entry's hash, so a changed, removed, inserted or reordered entry
-- breaks the chain (sesshu audit verify). The database refuses UPDATE and DELETE.
-- The primary key is the only index: an entry is written with every operation on personal data,
-- so its cost is kept to one narrow insert (BENCHMARKS.md); the auditor's searches by person,
-- actor, function and period read the municipality's chain instead.
CREATE TABLE audit_log (
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

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('audit_log', 'audit_log', '10000000 1000000 1');
ANALYZE sqlite_master;
