-- 開示・訂正・利用停止の請求 (F13): the register of a person's requests about their own data,
-- with the day received, the legal deadline (30 days, extendable once with a reason), and the
-- answer: who answered, when and how. Never deleted.
CREATE TABLE subject_request (
    municipality_code TEXT NOT NULL,
    request_id        BIGINT NOT NULL,
    address_number    TEXT NOT NULL,
    -- disclosure (開示), correction (訂正), suspension (利用停止).
    kind              TEXT NOT NULL,
    received_on       TEXT NOT NULL,
    -- self (本人), legal (法定代理人), agent (任意代理人).
    requester         TEXT NOT NULL,
    -- How the requester's identity (and authority) was confirmed.
    identity_checked  TEXT NOT NULL,
    details           TEXT NOT NULL,
    due_on            TEXT NOT NULL,
    extended_to       TEXT,
    extension_reason  TEXT,
    -- open, answered, withdrawn.
    status            TEXT NOT NULL,
    -- full, partial, refused (開示); corrected, not_corrected (訂正); stopped, not_stopped.
    outcome           TEXT,
    answer            TEXT,
    answered_on       TEXT,
    answered_by       TEXT,
    recorded_by       TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    PRIMARY KEY (municipality_code, request_id)
);
CREATE INDEX subject_request_open ON subject_request (municipality_code, status, due_on);
CREATE INDEX subject_request_person ON subject_request (municipality_code, address_number);
