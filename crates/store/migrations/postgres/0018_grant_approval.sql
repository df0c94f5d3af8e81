-- Four-eyes: a grant of My Number use or of an administrator's permission made through the pages
-- is in force only once a second administrator (neither its granter nor its holder) approves it.
-- Until then approved_at is NULL and the grant counts for nothing. Every grant made before this
-- migration stands as approved by whoever granted it.
ALTER TABLE access_grant ADD COLUMN approved_at TEXT;
ALTER TABLE access_grant ADD COLUMN approved_by TEXT;
UPDATE access_grant SET approved_at = granted_at, approved_by = granted_by;
