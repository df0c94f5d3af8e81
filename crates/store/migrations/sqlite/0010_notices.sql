-- Recalls (対象者抽出・勧奨), tickets and certificates.

-- A recall reads the persons of a birth range and their doses: both indexes carry every column
-- it reads, so neither touches the tables (a million-person town answers in seconds).
CREATE INDEX person_birth ON person (municipality_code, birth_date, address_number, sex,
    resident_status, protected);
DROP INDEX dose_person;
CREATE INDEX dose_person ON dose (municipality_code, address_number, given_on, dose_id, deleted,
    product, ordinal, judgement, antibody_result);

-- Numbers handed out in order per municipality (notice runs, tickets, certificates).
CREATE TABLE number_counter (
    municipality_code TEXT NOT NULL,
    name              TEXT NOT NULL,
    value             BIGINT NOT NULL,
    PRIMARY KEY (municipality_code, name)
);

-- One extraction that was kept: what was asked, who was selected, who approved and issued.
CREATE TABLE notice_run (
    municipality_code TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    series_key        TEXT NOT NULL,
    dose              INTEGER,
    basis             TEXT NOT NULL,
    period_from       TEXT NOT NULL,
    period_to         TEXT NOT NULL,
    as_of             TEXT NOT NULL,
    documents         TEXT NOT NULL,
    recall_of         TEXT,
    release_protected INTEGER NOT NULL DEFAULT 0,
    status            TEXT NOT NULL,
    person_count      INTEGER NOT NULL,
    summary           TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    approved_by       TEXT,
    approved_at       TEXT,
    issued_by         TEXT,
    issued_at         TEXT,
    PRIMARY KEY (municipality_code, run_id)
);

-- A notice per person and run: the national database links doses to the notice behind them.
CREATE TABLE notice (
    municipality_code TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    address_number    TEXT NOT NULL,
    notice_number     TEXT NOT NULL,
    series_key        TEXT NOT NULL,
    dose              INTEGER NOT NULL,
    stage             TEXT NOT NULL,
    window_from       TEXT NOT NULL,
    window_to         TEXT NOT NULL,
    standard_from     TEXT,
    standard_to       TEXT,
    reason            TEXT NOT NULL,
    address_withheld  INTEGER NOT NULL,
    ticket_number     TEXT,
    PRIMARY KEY (municipality_code, run_id, address_number)
);
CREATE INDEX notice_person ON notice (municipality_code, address_number);

-- The files a run wrote, so an interrupted batch resumes after the last one complete.
CREATE TABLE notice_run_part (
    municipality_code TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    document          TEXT NOT NULL,
    part              INTEGER NOT NULL,
    file_name         TEXT NOT NULL,
    pages             INTEGER NOT NULL,
    sha256            TEXT NOT NULL,
    written_at        TEXT NOT NULL,
    PRIMARY KEY (municipality_code, run_id, document, part)
);

CREATE TABLE ticket (
    municipality_code TEXT NOT NULL,
    ticket_number     TEXT NOT NULL,
    address_number    TEXT NOT NULL,
    series_key        TEXT NOT NULL,
    dose              INTEGER NOT NULL,
    number_line       TEXT NOT NULL,
    valid_from        TEXT NOT NULL,
    valid_until       TEXT NOT NULL,
    run_id            TEXT,
    issued_by         TEXT NOT NULL,
    issued_at         TEXT NOT NULL,
    reissue_of        TEXT,
    invalidated_at    TEXT,
    invalidated_by    TEXT,
    PRIMARY KEY (municipality_code, ticket_number)
);
CREATE INDEX ticket_person ON ticket (municipality_code, address_number);

CREATE TABLE certificate (
    municipality_code TEXT NOT NULL,
    certificate_id    TEXT NOT NULL,
    address_number    TEXT NOT NULL,
    travel            INTEGER NOT NULL,
    issued_on         TEXT NOT NULL,
    issued_by         TEXT NOT NULL,
    issued_at         TEXT NOT NULL,
    token             TEXT NOT NULL,
    key_id            TEXT NOT NULL,
    pdf_sha256        TEXT NOT NULL,
    reissue_of        TEXT,
    revoked_at        TEXT,
    revoked_by        TEXT,
    PRIMARY KEY (municipality_code, certificate_id)
);
CREATE INDEX certificate_person ON certificate (municipality_code, address_number);
CREATE INDEX certificate_pdf ON certificate (pdf_sha256);

-- Public halves of the certificate signing keys, kept so old certificates verify after rotation.
CREATE TABLE certificate_key (
    municipality_code TEXT NOT NULL,
    key_id            TEXT NOT NULL,
    public_key        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (municipality_code, key_id)
);
