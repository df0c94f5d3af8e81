-- Flagged doses (要確認: recorded though a routine rule was broken) are work: what staff did
-- about each — confirmed with the clinic, corrected, or left as voluntary — with who, when and a
-- note. Append-only; the newest entry of a dose is its state.
CREATE TABLE dose_review (
    municipality_code TEXT NOT NULL,
    dose_id           BIGINT NOT NULL,
    seq               BIGINT NOT NULL,
    action            TEXT NOT NULL,
    note              TEXT,
    decided_at        TEXT NOT NULL,
    decided_by        TEXT NOT NULL,
    PRIMARY KEY (municipality_code, dose_id, seq)
);
-- The worklist reads the flagged doses of a municipality, newest first.
CREATE INDEX dose_flagged ON dose (municipality_code, given_on) WHERE routine = 0 AND deleted = 0;

-- A refused row names the person and the clinic, so a clerk can call without the original file.
ALTER TABLE import_row_error ADD COLUMN address_number TEXT;
ALTER TABLE import_row_error ADD COLUMN clinic TEXT;
