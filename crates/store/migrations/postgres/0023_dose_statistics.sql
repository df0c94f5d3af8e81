-- Statistics read a fiscal year's doses (the annual table; a series' doses by month, sex, age or
-- 町丁目) out of a whole history: without this, every table scanned every dose of the
-- municipality (6 s for 14 million doses, bench/statistics.sh). Product follows the date so
-- that a series' breakdown is answered from the index's range before the rows are read.
CREATE INDEX dose_given ON dose (municipality_code, given_on, product) WHERE deleted = 0;
