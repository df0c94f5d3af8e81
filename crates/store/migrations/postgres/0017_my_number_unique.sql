-- One My Number, one person in a municipality (see the SQLite migration of the same number).
DROP INDEX person_my_number;
CREATE UNIQUE INDEX person_my_number ON person (municipality_code, my_number_index);
