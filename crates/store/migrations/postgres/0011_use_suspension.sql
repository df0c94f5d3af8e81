-- 利用停止: a resident's request that the city stop using their data for notices (個人情報の
-- 利用停止請求). A request is kept when it is lifted; at most one is in force per person.
CREATE TABLE use_suspension (
    municipality_code TEXT NOT NULL,
    suspension_id     BIGINT NOT NULL,
    address_number    TEXT NOT NULL,
    requested_on      TEXT NOT NULL,
    reason            TEXT NOT NULL,
    recorded_by       TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    lifted_by         TEXT,
    lifted_at         TEXT,
    lift_reason       TEXT,
    PRIMARY KEY (municipality_code, suspension_id)
);
CREATE UNIQUE INDEX use_suspension_in_force ON use_suspension (municipality_code, address_number)
    WHERE lifted_at IS NULL;
CREATE INDEX use_suspension_person ON use_suspension (municipality_code, address_number);
