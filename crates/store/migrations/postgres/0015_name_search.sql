-- Search by the name as written (kanji), with 異体字 folded: `name_key` is derived from the name
-- by `sesshu_domain::name_key` (so it is not content, and not kept in history). The rows that
-- exist before this migration get their key from the program the first time it opens the
-- database (`pending_backfill`), because the folding is Rust, not SQL.
ALTER TABLE person ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
CREATE INDEX person_name ON person (municipality_code, name_key, birth_date);
CREATE TABLE pending_backfill (name TEXT PRIMARY KEY);
INSERT INTO pending_backfill (name) SELECT 'person.name_key' WHERE EXISTS (SELECT 1 FROM person);
