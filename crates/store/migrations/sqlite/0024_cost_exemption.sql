-- 実費徴収の免除 (F7): for B類 vaccinations the city collects a self-payment (自己負担) at the
-- clinic unless it decided the person exempt for the fiscal year (生活保護, 市民税非課税世帯 …).
-- A decision is never deleted: revoking one records who, when and why. At most one decision in
-- force per person and fiscal year.
CREATE TABLE cost_exemption (
    municipality_code TEXT NOT NULL,
    exemption_id      BIGINT NOT NULL,
    address_number    TEXT NOT NULL,
    fiscal_year       BIGINT NOT NULL,
    -- 'exempt' (免除) or 'not_exempt' (非該当: applied, and the grounds were not met).
    decision          TEXT NOT NULL,
    ground            TEXT NOT NULL,
    -- What was seen: 保護受給証明書, 非課税証明書, or the tax record consulted.
    evidence          TEXT NOT NULL,
    applied_on        TEXT NOT NULL,
    decided_on        TEXT NOT NULL,
    valid_from        TEXT NOT NULL,
    valid_to          TEXT NOT NULL,
    notes             TEXT NOT NULL,
    recorded_by       TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    revoked_by        TEXT,
    revoked_at        TEXT,
    revoke_reason     TEXT,
    PRIMARY KEY (municipality_code, exemption_id)
);
CREATE UNIQUE INDEX cost_exemption_in_force
    ON cost_exemption (municipality_code, address_number, fiscal_year) WHERE revoked_at IS NULL;
CREATE INDEX cost_exemption_year ON cost_exemption (municipality_code, fiscal_year);

-- The self-payment a price's doses carry (B類): the city pays the price less it, or the whole
-- price for a person exempt on the day of the dose. What a run paid is kept with the item.
ALTER TABLE payment_price ADD COLUMN self_pay_yen BIGINT;
ALTER TABLE payment_item ADD COLUMN exempt BIGINT NOT NULL DEFAULT 0;
