-- Key rotation re-seals the My Numbers kept in history, so that an old key version can be
-- retired. History stays append-only for everything else: an update may only replace the
-- sealed number, its key version and its blind index, and only onto a newer key version.
DROP TRIGGER person_history_no_update;
CREATE TRIGGER person_history_reseal_only BEFORE UPDATE ON person_history
WHEN NEW.my_number_key_version IS NULL
  OR OLD.my_number_key_version IS NULL
  OR NEW.my_number_key_version <= OLD.my_number_key_version
  OR NEW.my_number_sealed IS NULL
  OR NEW.my_number_index IS NULL
  OR NEW.municipality_code IS NOT OLD.municipality_code
  OR NEW.address_number IS NOT OLD.address_number
  OR NEW.version IS NOT OLD.version
  OR NEW.integrated_address_number IS NOT OLD.integrated_address_number
  OR NEW.household_number IS NOT OLD.household_number
  OR NEW.relationship IS NOT OLD.relationship
  OR NEW.family_name IS NOT OLD.family_name
  OR NEW.given_name IS NOT OLD.given_name
  OR NEW.family_kana IS NOT OLD.family_kana
  OR NEW.given_kana IS NOT OLD.given_kana
  OR NEW.kana_key IS NOT OLD.kana_key
  OR NEW.birth_date IS NOT OLD.birth_date
  OR NEW.sex IS NOT OLD.sex
  OR NEW.postal_code IS NOT OLD.postal_code
  OR NEW.address IS NOT OLD.address
  OR NEW.address_detail IS NOT OLD.address_detail
  OR NEW.district_code IS NOT OLD.district_code
  OR NEW.school_district IS NOT OLD.school_district
  OR NEW.phone IS NOT OLD.phone
  OR NEW.resident_status IS NOT OLD.resident_status
  OR NEW.change_reason IS NOT OLD.change_reason
  OR NEW.changed_on IS NOT OLD.changed_on
  OR NEW.notified_on IS NOT OLD.notified_on
  OR NEW.previous_address IS NOT OLD.previous_address
  OR NEW.next_address IS NOT OLD.next_address
  OR NEW.protected IS NOT OLD.protected
  OR NEW.content_hash IS NOT OLD.content_hash
  OR NEW.recorded_at IS NOT OLD.recorded_at
  OR NEW.import_id IS NOT OLD.import_id
  OR NEW.superseded_at IS NOT OLD.superseded_at
  OR NEW.superseded_by_import IS NOT OLD.superseded_by_import
BEGIN SELECT RAISE(ABORT, 'person_history is append-only (only a key rotation may re-seal)'); END;
