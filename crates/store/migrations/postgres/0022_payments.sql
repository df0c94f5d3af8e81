-- Clinic payments (委託料, F10). Prices are data with their validity; an institution's account
-- is where its money goes; a run pays one billing month's doses after a second person approved
-- it. A dose is paid at most once, ever: payment_item's key is the dose.
CREATE TABLE payment_price (
    municipality_code TEXT NOT NULL,
    product           TEXT NOT NULL,
    -- '*' for every dose of the product, else the dose's 回数.
    dose              TEXT NOT NULL,
    valid_from        TEXT NOT NULL,
    valid_to          TEXT,
    unit_yen          BIGINT NOT NULL,
    recorded_at       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL,
    PRIMARY KEY (municipality_code, product, dose, valid_from)
);

CREATE TABLE payment_institution (
    municipality_code TEXT NOT NULL,
    institution_code  TEXT NOT NULL,
    name              TEXT NOT NULL,
    payee_kana        TEXT NOT NULL,
    bank_code         TEXT NOT NULL,
    bank_name_kana    TEXT NOT NULL,
    branch_code       TEXT NOT NULL,
    branch_name_kana  TEXT NOT NULL,
    account_type      TEXT NOT NULL,
    account_number    TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL,
    PRIMARY KEY (municipality_code, institution_code)
);

-- 振込依頼人: the city's own account and the code its bank gave it.
CREATE TABLE payment_requester (
    municipality_code TEXT NOT NULL PRIMARY KEY,
    requester_code    TEXT NOT NULL,
    name_kana         TEXT NOT NULL,
    bank_code         TEXT NOT NULL,
    bank_name_kana    TEXT NOT NULL,
    branch_code       TEXT NOT NULL,
    branch_name_kana  TEXT NOT NULL,
    account_type      TEXT NOT NULL,
    account_number    TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    recorded_by       TEXT NOT NULL
);

CREATE TABLE payment_run (
    municipality_code TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    billing_month     TEXT NOT NULL,
    transfer_date     TEXT NOT NULL,
    -- awaiting_approval → approved → written (the transfer file made), or cancelled.
    status            TEXT NOT NULL,
    doses             BIGINT NOT NULL,
    total_yen         BIGINT NOT NULL,
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    approved_at       TEXT,
    approved_by       TEXT,
    written_at        TEXT,
    written_by        TEXT,
    file_sha256       TEXT,
    PRIMARY KEY (municipality_code, run_id)
);

CREATE TABLE payment_item (
    municipality_code TEXT NOT NULL,
    dose_id           BIGINT NOT NULL,
    run_id            TEXT NOT NULL,
    institution_code  TEXT NOT NULL,
    unit_yen          BIGINT NOT NULL,
    PRIMARY KEY (municipality_code, dose_id)
);
CREATE INDEX payment_item_run ON payment_item (municipality_code, run_id, institution_code);
-- A month's payable doses are read by billing month.
CREATE INDEX dose_billing ON dose (municipality_code, billing_month) WHERE billing_month IS NOT NULL;
