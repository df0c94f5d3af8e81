-- Planner statistics for SQLite. Every index starts with municipality_code, and without
-- statistics SQLite assumes an equality on a leading column is already selective: it then walks
-- the whole municipality by primary key rather than seek person_kana, person_household or
-- person_my_number (measured: a full scan per lookup). These hand-set figures describe the
-- register's shape, not its size — one municipality holds many persons; a kana key + birth date
-- or a household holds a few; a My Number one — and stay true as the data grows, so no ANALYZE
-- has to run after imports. A later ANALYZE replaces them with measured ones, which is fine.
ANALYZE;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('person', 'person', '1000000 100000 1'),
    ('person', 'person_kana', '1000000 100000 3 1'),
    ('person', 'person_household', '1000000 100000 3'),
    ('person', 'person_my_number', '1000000 100000 1'),
    ('person_history', 'person_history', '1000000 100000 2 1'),
    ('dose', 'dose', '10000000 1000000 1'),
    ('dose', 'dose_person', '10000000 1000000 20 2'),
    ('dose', 'dose_natural', '10000000 1000000 20 5 2 1 1'),
    ('dose_history', 'dose_history', '1000000 100000 2 1');
-- Any ANALYZE reloads sqlite_stat1 into this connection; this one analyses nothing else.
ANALYZE sqlite_master;
