-- The medical institution (医療機関コード, 10 digits) a clinic's account speaks for: its checks
-- before a dose are audited under it. NULL for the city's own staff.
ALTER TABLE account ADD COLUMN institution_code TEXT;
