-- API tokens for machine clients: one municipality, a set of grants, an expiry; the secret is
-- stored only as its SHA-256 (it is 256 random bits, so a plain digest suffices).
CREATE TABLE api_token (
    municipality_code TEXT NOT NULL,
    token_id          TEXT NOT NULL,
    name              TEXT NOT NULL,
    secret_sha256     TEXT NOT NULL,
    grants            TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    revoked_at        TEXT,
    revoked_by        TEXT,
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    last_used_at      TEXT,
    PRIMARY KEY (municipality_code, token_id)
);
