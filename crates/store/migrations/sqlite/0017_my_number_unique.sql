-- One My Number, one person in a municipality: the import refuses a second holder row by row
-- (naming who holds it); this index makes the rule the database's own. NULLs (no number) stay
-- distinct. A register that already has two holders fails here: find them with
-- `SELECT municipality_code, my_number_index, COUNT(*) FROM person WHERE my_number_index IS NOT
-- NULL GROUP BY 1, 2 HAVING COUNT(*) > 1` and correct the feed first.
DROP INDEX person_my_number;
CREATE UNIQUE INDEX person_my_number ON person (municipality_code, my_number_index);
-- DROP INDEX took its hand-set planner statistics (migration 0003) with it.
DELETE FROM sqlite_stat1 WHERE tbl = 'person' AND idx = 'person_my_number';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('person', 'person_my_number', '1000000 100000 1');
ANALYZE sqlite_master;
