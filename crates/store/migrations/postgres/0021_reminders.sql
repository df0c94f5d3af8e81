-- Reminder mails to guardians who asked for them (F3): how and when each opted in and out. The
-- unsubscribe link is the subscription's id signed with the key file's signing key: no secret
-- of it is stored here.
CREATE TABLE mail_subscription (
    municipality_code   TEXT NOT NULL,
    subscription_id     TEXT NOT NULL,
    address_number      TEXT NOT NULL,
    email               TEXT NOT NULL,
    opted_in_at         TEXT NOT NULL,
    opted_in_channel    TEXT NOT NULL,
    opted_in_by         TEXT NOT NULL,
    opted_out_at        TEXT,
    opted_out_channel   TEXT,
    opted_out_by        TEXT,
    PRIMARY KEY (municipality_code, subscription_id)
);
CREATE INDEX mail_subscription_person ON mail_subscription (municipality_code, address_number);

-- Every mail sent or tried, and the doses it reminded of: a dose is reminded of once it was in a
-- sent mail; a failed mail is tried again by the next run.
CREATE TABLE mail_sent (
    municipality_code TEXT NOT NULL,
    mail_id           TEXT NOT NULL,
    subscription_id   TEXT NOT NULL,
    attempted_at      TEXT NOT NULL,
    attempts          INTEGER NOT NULL,
    status            TEXT NOT NULL,
    error             TEXT,
    PRIMARY KEY (municipality_code, mail_id)
);
CREATE INDEX mail_sent_subscription ON mail_sent (municipality_code, subscription_id);

CREATE TABLE mail_item (
    municipality_code TEXT NOT NULL,
    mail_id           TEXT NOT NULL,
    child_address     TEXT NOT NULL,
    series_key        TEXT NOT NULL,
    dose              INTEGER NOT NULL,
    PRIMARY KEY (municipality_code, mail_id, child_address, series_key, dose)
);
