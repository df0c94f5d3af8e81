-- Server-side sessions of staff logins. The cookie holds a random id; only its SHA-256 is stored
-- (as for the CSRF token), so a database reader cannot ride a session.
CREATE TABLE session (
    municipality_code TEXT NOT NULL,
    session_sha256    TEXT NOT NULL,
    login             TEXT NOT NULL,
    csrf_sha256       TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    last_seen_at      TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    revoked_at        TEXT,
    source            TEXT,
    PRIMARY KEY (municipality_code, session_sha256)
);

-- A password change, a disable or a change of grants ends every session begun before it.
ALTER TABLE account ADD COLUMN sessions_valid_after TEXT;
