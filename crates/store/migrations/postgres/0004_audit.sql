-- The audit log (操作ログ): who did what to which persons, when, from where, with what outcome.
-- One hash chain per municipality ('-' for the deployment's own events): each entry's hash covers
-- its content and the previous entry's hash, so a changed, removed, inserted or reordered entry
-- breaks the chain (sesshu audit verify). The database refuses UPDATE and DELETE.
-- The primary key is the only index: an entry is written with every operation on personal data,
-- so its cost is kept to one narrow insert (BENCHMARKS.md); the auditor's searches by person,
-- actor, function and period read the municipality's chain instead.
CREATE TABLE audit_log (
    municipality_code TEXT NOT NULL,
    seq               BIGINT NOT NULL,
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

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sesshu_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION sesshu_append_only();
