-- The register core. Every primary key starts with the municipality (tenant) code.

CREATE TABLE municipality (
    municipality_code TEXT NOT NULL PRIMARY KEY,
    name              TEXT NOT NULL,
    created_at        TEXT NOT NULL
);

CREATE TABLE person (
    municipality_code         TEXT NOT NULL,
    address_number            TEXT NOT NULL,
    integrated_address_number TEXT,
    my_number_sealed          BLOB,
    my_number_key_version     INTEGER,
    my_number_index           BLOB,
    household_number          TEXT,
    relationship              TEXT,
    family_name               TEXT NOT NULL,
    given_name                TEXT NOT NULL,
    family_kana               TEXT NOT NULL,
    given_kana                TEXT NOT NULL,
    kana_key                  TEXT NOT NULL,
    birth_date                TEXT NOT NULL,
    sex                       INTEGER NOT NULL,
    postal_code               TEXT,
    address                   TEXT,
    address_detail            TEXT,
    district_code             TEXT,
    school_district           TEXT,
    phone                     TEXT,
    resident_status           INTEGER NOT NULL,
    change_reason             INTEGER,
    changed_on                TEXT,
    notified_on               TEXT,
    previous_address          TEXT,
    next_address              TEXT,
    protected                 INTEGER NOT NULL,
    content_hash              BLOB NOT NULL,
    version                   INTEGER NOT NULL,
    updated_at                TEXT NOT NULL,
    import_id                 TEXT,
    PRIMARY KEY (municipality_code, address_number)
) WITHOUT ROWID;

CREATE INDEX person_my_number ON person (municipality_code, my_number_index);
CREATE INDEX person_kana ON person (municipality_code, kana_key, birth_date);
CREATE INDEX person_household ON person (municipality_code, household_number);

-- Superseded versions of a person: what was true before each change (never overwritten).
CREATE TABLE person_history (
    municipality_code         TEXT NOT NULL,
    address_number            TEXT NOT NULL,
    version                   INTEGER NOT NULL,
    integrated_address_number TEXT,
    my_number_sealed          BLOB,
    my_number_key_version     INTEGER,
    my_number_index           BLOB,
    household_number          TEXT,
    relationship              TEXT,
    family_name               TEXT NOT NULL,
    given_name                TEXT NOT NULL,
    family_kana               TEXT NOT NULL,
    given_kana                TEXT NOT NULL,
    kana_key                  TEXT NOT NULL,
    birth_date                TEXT NOT NULL,
    sex                       INTEGER NOT NULL,
    postal_code               TEXT,
    address                   TEXT,
    address_detail            TEXT,
    district_code             TEXT,
    school_district           TEXT,
    phone                     TEXT,
    resident_status           INTEGER NOT NULL,
    change_reason             INTEGER,
    changed_on                TEXT,
    notified_on               TEXT,
    previous_address          TEXT,
    next_address              TEXT,
    protected                 INTEGER NOT NULL,
    content_hash              BLOB NOT NULL,
    recorded_at               TEXT NOT NULL,
    import_id                 TEXT,
    superseded_at             TEXT NOT NULL,
    superseded_by_import      TEXT,
    PRIMARY KEY (municipality_code, address_number, version)
) WITHOUT ROWID;

CREATE TABLE import_run (
    municipality_code TEXT NOT NULL,
    import_id         TEXT NOT NULL,
    kind              TEXT NOT NULL,
    file_name         TEXT NOT NULL,
    file_sha256       TEXT NOT NULL,
    encoding          TEXT,
    mode              TEXT NOT NULL,
    status            TEXT NOT NULL,
    message           TEXT,
    started_at        TEXT NOT NULL,
    finished_at       TEXT NOT NULL,
    total_rows        INTEGER NOT NULL,
    inserted          INTEGER NOT NULL,
    updated           INTEGER NOT NULL,
    unchanged         INTEGER NOT NULL,
    rejected          INTEGER NOT NULL,
    missing           INTEGER NOT NULL,
    operator          TEXT NOT NULL,
    PRIMARY KEY (municipality_code, import_id)
);

CREATE TABLE import_row_error (
    municipality_code TEXT NOT NULL,
    import_id         TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    line              INTEGER NOT NULL,
    column_name       TEXT,
    reason            TEXT NOT NULL,
    value             TEXT,
    PRIMARY KEY (municipality_code, import_id, seq)
);

-- History is evidence: it is appended to, never edited.
CREATE TRIGGER person_history_no_update BEFORE UPDATE ON person_history
BEGIN SELECT RAISE(ABORT, 'person_history is append-only'); END;
CREATE TRIGGER person_history_no_delete BEFORE DELETE ON person_history
BEGIN SELECT RAISE(ABORT, 'person_history is append-only'); END;
