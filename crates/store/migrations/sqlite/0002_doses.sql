-- Doses (REQUIREMENTS §2). A dose is corrected or deleted only by writing a new version; every
-- superseded version is kept in dose_history with who, when and why (never overwritten).

CREATE TABLE dose (
    municipality_code TEXT NOT NULL,
    dose_id           INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    address_number    TEXT NOT NULL,
    product           TEXT NOT NULL,
    ordinal           INTEGER NOT NULL,
    given_on          TEXT NOT NULL,
    judgement         TEXT NOT NULL,
    institution_code  TEXT,
    institution_name  TEXT,
    doctor            TEXT,
    lot               TEXT,
    manufacturer      TEXT,
    amount_ml         TEXT,
    screened_on       TEXT,
    billing_month     TEXT,
    subsidy_yen       INTEGER,
    ticket_number     TEXT,
    notes             TEXT,
    given_elsewhere   INTEGER NOT NULL,
    antibody_result   TEXT,
    age_at_dose       TEXT,
    routine           INTEGER,
    evaluation        TEXT,
    stage             TEXT,
    deleted           INTEGER NOT NULL,
    import_id         TEXT,
    source_line       INTEGER,
    recorded_at       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL,
    change_reason     TEXT,
    PRIMARY KEY (municipality_code, dose_id)
) WITHOUT ROWID;

CREATE INDEX dose_person ON dose (municipality_code, address_number, given_on);
-- The same dose twice is a duplicate, whatever file it came from.
CREATE UNIQUE INDEX dose_natural ON dose
    (municipality_code, address_number, product, ordinal, given_on, judgement) WHERE deleted = 0;

CREATE TABLE dose_history (
    municipality_code TEXT NOT NULL,
    dose_id           INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    address_number    TEXT NOT NULL,
    product           TEXT NOT NULL,
    ordinal           INTEGER NOT NULL,
    given_on          TEXT NOT NULL,
    judgement         TEXT NOT NULL,
    institution_code  TEXT,
    institution_name  TEXT,
    doctor            TEXT,
    lot               TEXT,
    manufacturer      TEXT,
    amount_ml         TEXT,
    screened_on       TEXT,
    billing_month     TEXT,
    subsidy_yen       INTEGER,
    ticket_number     TEXT,
    notes             TEXT,
    given_elsewhere   INTEGER NOT NULL,
    antibody_result   TEXT,
    age_at_dose       TEXT,
    routine           INTEGER,
    evaluation        TEXT,
    stage             TEXT,
    deleted           INTEGER NOT NULL,
    import_id         TEXT,
    source_line       INTEGER,
    recorded_at       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL,
    change_reason     TEXT,
    superseded_at     TEXT NOT NULL,
    superseded_by     TEXT NOT NULL,
    PRIMARY KEY (municipality_code, dose_id, version)
) WITHOUT ROWID;

ALTER TABLE import_run ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE import_run ADD COLUMN duplicate INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER dose_history_no_update BEFORE UPDATE ON dose_history
BEGIN SELECT RAISE(ABORT, 'dose_history is append-only'); END;
CREATE TRIGGER dose_history_no_delete BEFORE DELETE ON dose_history
BEGIN SELECT RAISE(ABORT, 'dose_history is append-only'); END;
-- A dose row is never removed: deletion is a new version marked deleted.
CREATE TRIGGER dose_no_delete BEFORE DELETE ON dose
BEGIN SELECT RAISE(ABORT, 'doses are deleted by a new version, never removed'); END;
