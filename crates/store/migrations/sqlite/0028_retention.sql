-- 保存期間 (P10): a person's records are kept until the retention period after death or
-- move-out has passed, then deleted — listed first, approved by a second person, deleted with a
-- signed certificate of what was deleted (counts and periods). Plans and certificates are kept.
CREATE TABLE purge_run (
    municipality_code TEXT NOT NULL,
    run_id            BIGINT NOT NULL,
    -- The rule applied: years kept after death or move-out, and the last day of death or
    -- move-out it reaches (the cutoff).
    years_after_end   INTEGER NOT NULL,
    cutoff            TEXT NOT NULL,
    -- planned, approved, done, cancelled.
    status            TEXT NOT NULL,
    person_count      INTEGER NOT NULL,
    planned_by        TEXT NOT NULL,
    planned_at        TEXT NOT NULL,
    approved_by       TEXT,
    approved_at       TEXT,
    done_by           TEXT,
    done_at           TEXT,
    -- The deletion certificate (JSON: counts, periods, who) and its signature.
    certificate       TEXT,
    signature         TEXT,
    PRIMARY KEY (municipality_code, run_id)
);

-- The persons a plan would delete, while it waits; removed with the persons when it is done.
CREATE TABLE purge_item (
    municipality_code TEXT NOT NULL,
    run_id            BIGINT NOT NULL,
    address_number    TEXT NOT NULL,
    ended_on          TEXT NOT NULL,
    resident_status   INTEGER NOT NULL,
    PRIMARY KEY (municipality_code, run_id, address_number)
);

-- The one way past the append-only triggers: a row here names a person a purge is deleting,
-- inside the purge's own transaction, which empties it again before it commits.
CREATE TABLE purge_authorised (
    municipality_code TEXT NOT NULL,
    address_number    TEXT NOT NULL,
    PRIMARY KEY (municipality_code, address_number)
);

DROP TRIGGER dose_no_delete;
CREATE TRIGGER dose_no_delete BEFORE DELETE ON dose
WHEN NOT EXISTS (SELECT 1 FROM purge_authorised a
    WHERE a.municipality_code = OLD.municipality_code AND a.address_number = OLD.address_number)
BEGIN SELECT RAISE(ABORT, 'doses are deleted by a new version, never removed'); END;
DROP TRIGGER dose_history_no_delete;
CREATE TRIGGER dose_history_no_delete BEFORE DELETE ON dose_history
WHEN NOT EXISTS (SELECT 1 FROM purge_authorised a
    WHERE a.municipality_code = OLD.municipality_code AND a.address_number = OLD.address_number)
BEGIN SELECT RAISE(ABORT, 'dose_history is append-only'); END;
DROP TRIGGER person_history_no_delete;
CREATE TRIGGER person_history_no_delete BEFORE DELETE ON person_history
WHEN NOT EXISTS (SELECT 1 FROM purge_authorised a
    WHERE a.municipality_code = OLD.municipality_code AND a.address_number = OLD.address_number)
BEGIN SELECT RAISE(ABORT, 'person_history is append-only'); END;
