-- 健康被害救済 (F8): a case per application for relief from harm after a vaccination — the
-- person, the dose, the harm, the benefit asked for, the documents received — and its steps
-- (受付 → 市の調査 → 都道府県経由で国へ進達 → 認定/否認 → 支給) each with its day and who recorded it.
-- Steps are appended, never changed; nothing is deleted.
CREATE TABLE relief_case (
    municipality_code  TEXT NOT NULL,
    case_id            BIGINT NOT NULL,
    address_number     TEXT NOT NULL,
    -- The dose the harm is attributed to, when the register holds it.
    dose_id            BIGINT,
    -- statutory_a (A類 定期・臨時), statutory_b (B類 定期), voluntary (任意接種: the city's own
    -- compensation, not forwarded to the state).
    regime             TEXT NOT NULL,
    benefit            TEXT NOT NULL,
    harm               TEXT NOT NULL,
    onset_on           TEXT NOT NULL,
    -- self (本人), guardian (保護者), survivor (遺族).
    applicant_relation TEXT NOT NULL,
    applicant_name     TEXT NOT NULL,
    received_on        TEXT NOT NULL,
    -- public_account (公金受取口座, when the applicant asks for it) or account (an account they name).
    pay_to             TEXT NOT NULL,
    account_note       TEXT NOT NULL,
    status             TEXT NOT NULL,
    recorded_by        TEXT NOT NULL,
    recorded_at        TEXT NOT NULL,
    PRIMARY KEY (municipality_code, case_id)
);
CREATE INDEX relief_case_person ON relief_case (municipality_code, address_number);

CREATE TABLE relief_document (
    municipality_code TEXT NOT NULL,
    case_id           BIGINT NOT NULL,
    document          TEXT NOT NULL,
    received_on       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    PRIMARY KEY (municipality_code, case_id, document)
);

CREATE TABLE relief_step (
    municipality_code TEXT NOT NULL,
    case_id           BIGINT NOT NULL,
    seq               BIGINT NOT NULL,
    -- received, investigated, forwarded, approved, denied, paid.
    step              TEXT NOT NULL,
    done_on           TEXT NOT NULL,
    amount_yen        BIGINT,
    note              TEXT NOT NULL,
    done_by           TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    PRIMARY KEY (municipality_code, case_id, seq)
);
