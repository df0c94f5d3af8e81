-- The audit log (操作ログ): who did what to which persons, when, from where, with what outcome.
-- One hash chain per municipality ('-' for the deployment's own events): each entry's hash covers
-- its content and the previous entry's hash, so a changed, removed, inserted or reordered entry
-- breaks the chain (sesshu audit verify). The database refuses UPDATE and DELETE.
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
);
CREATE INDEX audit_actor ON audit_log (municipality_code, actor, at);
CREATE INDEX audit_function ON audit_log (municipality_code, function, at);
CREATE INDEX audit_at ON audit_log (municipality_code, at);

-- Which persons each entry acted on or showed, for the auditor's search by person. Derived from
-- audit_log (and checked against it by verify), so it needs no chain of its own.
CREATE TABLE audit_person (
    municipality_code TEXT NOT NULL,
    address_number    TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    role              TEXT NOT NULL,
    PRIMARY KEY (municipality_code, address_number, seq, role)
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_person_no_update BEFORE UPDATE ON audit_person
BEGIN SELECT RAISE(ABORT, 'audit_person is append-only'); END;
CREATE TRIGGER audit_person_no_delete BEFORE DELETE ON audit_person
BEGIN SELECT RAISE(ABORT, 'audit_person is append-only'); END;

INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('audit_log', 'audit_log', '10000000 1000000 1'),
    ('audit_log', 'audit_actor', '10000000 1000000 1000 2'),
    ('audit_log', 'audit_function', '10000000 1000000 100000 2'),
    ('audit_log', 'audit_at', '10000000 1000000 2'),
    ('audit_person', 'audit_person', '10000000 1000000 20 1 1');
ANALYZE sqlite_master;
