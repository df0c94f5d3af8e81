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
    my_number_sealed          BYTEA,
    my_number_key_version     BIGINT,
    my_number_index           BYTEA,
    household_number          TEXT,
    relationship              TEXT,
    family_name               TEXT NOT NULL,
    given_name                TEXT NOT NULL,
    family_kana               TEXT NOT NULL,
    given_kana                TEXT NOT NULL,
    kana_key                  TEXT NOT NULL,
    birth_date                TEXT NOT NULL,
    sex                       BIGINT NOT NULL,
    postal_code               TEXT,
    address                   TEXT,
    address_detail            TEXT,
    district_code             TEXT,
    school_district           TEXT,
    phone                     TEXT,
    resident_status           BIGINT NOT NULL,
    change_reason             BIGINT,
    changed_on                TEXT,
    notified_on               TEXT,
    previous_address          TEXT,
    next_address              TEXT,
    protected                 BIGINT NOT NULL,
    content_hash              BYTEA NOT NULL,
    version                   BIGINT NOT NULL,
    updated_at                TEXT NOT NULL,
    import_id                 TEXT,
    PRIMARY KEY (municipality_code, address_number)
);

CREATE INDEX person_my_number ON person (municipality_code, my_number_index);
CREATE INDEX person_kana ON person (municipality_code, kana_key, birth_date);
CREATE INDEX person_household ON person (municipality_code, household_number);

-- Superseded versions of a person: what was true before each change (never overwritten).
CREATE TABLE person_history (
    municipality_code         TEXT NOT NULL,
    address_number            TEXT NOT NULL,
    version                   BIGINT NOT NULL,
    integrated_address_number TEXT,
    my_number_sealed          BYTEA,
    my_number_key_version     BIGINT,
    my_number_index           BYTEA,
    household_number          TEXT,
    relationship              TEXT,
    family_name               TEXT NOT NULL,
    given_name                TEXT NOT NULL,
    family_kana               TEXT NOT NULL,
    given_kana                TEXT NOT NULL,
    kana_key                  TEXT NOT NULL,
    birth_date                TEXT NOT NULL,
    sex                       BIGINT NOT NULL,
    postal_code               TEXT,
    address                   TEXT,
    address_detail            TEXT,
    district_code             TEXT,
    school_district           TEXT,
    phone                     TEXT,
    resident_status           BIGINT NOT NULL,
    change_reason             BIGINT,
    changed_on                TEXT,
    notified_on               TEXT,
    previous_address          TEXT,
    next_address              TEXT,
    protected                 BIGINT NOT NULL,
    content_hash              BYTEA NOT NULL,
    recorded_at               TEXT NOT NULL,
    import_id                 TEXT,
    superseded_at             TEXT NOT NULL,
    superseded_by_import      TEXT,
    PRIMARY KEY (municipality_code, address_number, version)
);

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
    total_rows        BIGINT NOT NULL,
    inserted          BIGINT NOT NULL,
    updated           BIGINT NOT NULL,
    unchanged         BIGINT NOT NULL,
    rejected          BIGINT NOT NULL,
    missing           BIGINT NOT NULL,
    operator          TEXT NOT NULL,
    PRIMARY KEY (municipality_code, import_id)
);

CREATE TABLE import_row_error (
    municipality_code TEXT NOT NULL,
    import_id         TEXT NOT NULL,
    seq               BIGINT NOT NULL,
    line              BIGINT NOT NULL,
    column_name       TEXT,
    reason            TEXT NOT NULL,
    value             TEXT,
    PRIMARY KEY (municipality_code, import_id, seq)
);

-- History is evidence: it is appended to, never edited.
CREATE FUNCTION sesshu_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = '42501';
END;
$$;
CREATE TRIGGER person_history_append_only BEFORE UPDATE OR DELETE ON person_history
    FOR EACH ROW EXECUTE FUNCTION sesshu_append_only();
CREATE TRIGGER person_history_no_truncate BEFORE TRUNCATE ON person_history
    FOR EACH STATEMENT EXECUTE FUNCTION sesshu_append_only();
