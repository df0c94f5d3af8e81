-- Accounts, their password history and their grants, per municipality.
CREATE TABLE account (
    municipality_code    TEXT NOT NULL,
    login                TEXT NOT NULL,
    display_name         TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    shared               BIGINT NOT NULL,
    shared_with          TEXT,
    valid_from           TEXT NOT NULL,
    valid_until          TEXT,
    disabled             BIGINT NOT NULL,
    failed_logins        BIGINT NOT NULL,
    locked_until         TEXT,
    must_change_password BIGINT NOT NULL,
    password_changed_at  TEXT NOT NULL,
    last_login_at        TEXT,
    created_at           TEXT NOT NULL,
    created_by           TEXT NOT NULL,
    PRIMARY KEY (municipality_code, login)
);

CREATE TABLE password_history (
    municipality_code TEXT NOT NULL,
    login             TEXT NOT NULL,
    changed_at        TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    PRIMARY KEY (municipality_code, login, changed_at)
);

-- A grant names a role (role:clerk) or one permission (dose.write), valid for a period;
-- revoking keeps the row with who and when.
CREATE TABLE access_grant (
    municipality_code TEXT NOT NULL,
    login             TEXT NOT NULL,
    grant_name        TEXT NOT NULL,
    valid_from        TEXT NOT NULL,
    valid_until       TEXT,
    granted_by        TEXT NOT NULL,
    granted_at        TEXT NOT NULL,
    revoked_at        TEXT,
    revoked_by        TEXT,
    PRIMARY KEY (municipality_code, login, grant_name, granted_at)
);
