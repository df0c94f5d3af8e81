-- 記録の統合 (F1): two records found to be one person (a 住登外 record beside the resident one,
-- or a record entered twice). The secondary's doses move to the primary by a new version each,
-- so the schedule, certificates and statistics see one history; undoing the link moves them
-- back. Notices, tickets and certificates stay on the record they were issued to and are shown
-- on both. Never deleted: an undone link keeps who undid it and why.
CREATE TABLE person_link (
    municipality_code TEXT NOT NULL,
    link_id           BIGINT NOT NULL,
    primary_address   TEXT NOT NULL,
    secondary_address TEXT NOT NULL,
    reason            TEXT NOT NULL,
    linked_by         TEXT NOT NULL,
    linked_at         TEXT NOT NULL,
    unlinked_by       TEXT,
    unlinked_at       TEXT,
    unlink_reason     TEXT,
    PRIMARY KEY (municipality_code, link_id)
);
-- A record is the secondary of at most one link in force.
CREATE UNIQUE INDEX person_link_secondary ON person_link (municipality_code, secondary_address)
    WHERE unlinked_at IS NULL;
CREATE INDEX person_link_primary ON person_link (municipality_code, primary_address);

-- What the link did to each of the secondary's doses: moved to the primary, or marked deleted
-- because the primary already held the same dose.
CREATE TABLE person_link_dose (
    municipality_code TEXT NOT NULL,
    link_id           BIGINT NOT NULL,
    dose_id           BIGINT NOT NULL,
    -- moved, duplicate.
    outcome           TEXT NOT NULL,
    version_after     BIGINT NOT NULL,
    PRIMARY KEY (municipality_code, link_id, dose_id)
);
