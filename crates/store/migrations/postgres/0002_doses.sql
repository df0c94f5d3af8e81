-- Doses (REQUIREMENTS §2). A dose is corrected or deleted only by writing a new version; every
-- superseded version is kept in dose_history with who, when and why (never overwritten).

CREATE TABLE dose (
    municipality_code TEXT NOT NULL,
    dose_id           BIGINT NOT NULL,
    version           BIGINT NOT NULL,
    address_number    TEXT NOT NULL,
    product           TEXT NOT NULL,
    ordinal           BIGINT NOT NULL,
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
    subsidy_yen       BIGINT,
    ticket_number     TEXT,
    notes             TEXT,
    given_elsewhere   BIGINT NOT NULL,
    antibody_result   TEXT,
    age_at_dose       TEXT,
    routine           BIGINT,
    evaluation        TEXT,
    stage             TEXT,
    deleted           BIGINT NOT NULL,
    import_id         TEXT,
    source_line       BIGINT,
    recorded_at       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL,
    change_reason     TEXT,
    PRIMARY KEY (municipality_code, dose_id)
);

CREATE INDEX dose_person ON dose (municipality_code, address_number, given_on);
-- The same dose twice is a duplicate, whatever file it came from.
CREATE UNIQUE INDEX dose_natural ON dose
    (municipality_code, address_number, product, ordinal, given_on, judgement) WHERE deleted = 0;

CREATE TABLE dose_history (
    municipality_code TEXT NOT NULL,
    dose_id           BIGINT NOT NULL,
    version           BIGINT NOT NULL,
    address_number    TEXT NOT NULL,
    product           TEXT NOT NULL,
    ordinal           BIGINT NOT NULL,
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
    subsidy_yen       BIGINT,
    ticket_number     TEXT,
    notes             TEXT,
    given_elsewhere   BIGINT NOT NULL,
    antibody_result   TEXT,
    age_at_dose       TEXT,
    routine           BIGINT,
    evaluation        TEXT,
    stage             TEXT,
    deleted           BIGINT NOT NULL,
    import_id         TEXT,
    source_line       BIGINT,
    recorded_at       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL,
    change_reason     TEXT,
    superseded_at     TEXT NOT NULL,
    superseded_by     TEXT NOT NULL,
    PRIMARY KEY (municipality_code, dose_id, version)
);

ALTER TABLE import_run ADD COLUMN flagged BIGINT NOT NULL DEFAULT 0;
ALTER TABLE import_run ADD COLUMN duplicate BIGINT NOT NULL DEFAULT 0;

CREATE TRIGGER dose_history_append_only BEFORE UPDATE OR DELETE ON dose_history
    FOR EACH ROW EXECUTE FUNCTION sesshu_append_only();
CREATE TRIGGER dose_history_no_truncate BEFORE TRUNCATE ON dose_history
    FOR EACH STATEMENT EXECUTE FUNCTION sesshu_append_only();
CREATE TRIGGER dose_no_delete BEFORE DELETE ON dose
    FOR EACH ROW EXECUTE FUNCTION sesshu_append_only();
