-- The second factor: a TOTP key sealed under the deployment's key, and single-use recovery
-- codes stored as their SHA-256.
ALTER TABLE account ADD COLUMN totp_secret TEXT;
ALTER TABLE account ADD COLUMN totp_enrolled_at TEXT;

CREATE TABLE recovery_code (
    municipality_code TEXT NOT NULL,
    login             TEXT NOT NULL,
    code_sha256       TEXT NOT NULL,
    used_at           TEXT,
    PRIMARY KEY (municipality_code, login, code_sha256)
);
