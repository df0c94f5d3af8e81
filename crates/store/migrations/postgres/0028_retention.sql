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

-- Deleting from these tables is refused unless a purge has named the person (see above).
CREATE FUNCTION sesshu_purge_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM purge_authorised a
               WHERE a.municipality_code = OLD.municipality_code
                 AND a.address_number = OLD.address_number) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = '42501';
END;
$$;

DROP TRIGGER dose_no_delete ON dose;
CREATE TRIGGER dose_no_delete BEFORE DELETE ON dose
    FOR EACH ROW EXECUTE FUNCTION sesshu_purge_only();
DROP TRIGGER dose_history_append_only ON dose_history;
CREATE TRIGGER dose_history_no_update BEFORE UPDATE ON dose_history
    FOR EACH ROW EXECUTE FUNCTION sesshu_append_only();
CREATE TRIGGER dose_history_no_delete BEFORE DELETE ON dose_history
    FOR EACH ROW EXECUTE FUNCTION sesshu_purge_only();
DROP TRIGGER person_history_no_delete ON person_history;
CREATE TRIGGER person_history_no_delete BEFORE DELETE ON person_history
    FOR EACH ROW EXECUTE FUNCTION sesshu_purge_only();
