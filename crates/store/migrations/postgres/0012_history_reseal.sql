-- Key rotation re-seals the My Numbers kept in history, so that an old key version can be
-- retired. History stays append-only for everything else: an update may only replace the
-- sealed number, its key version and its blind index, and only onto a newer key version.
-- Comparing the rows as JSON without those three columns covers any column added later.
CREATE FUNCTION sesshu_history_reseal_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.my_number_key_version IS NULL
       OR OLD.my_number_key_version IS NULL
       OR NEW.my_number_key_version <= OLD.my_number_key_version
       OR NEW.my_number_sealed IS NULL
       OR NEW.my_number_index IS NULL
       OR (to_jsonb(NEW) - 'my_number_sealed' - 'my_number_key_version' - 'my_number_index')
          IS DISTINCT FROM
          (to_jsonb(OLD) - 'my_number_sealed' - 'my_number_key_version' - 'my_number_index')
    THEN
        RAISE EXCEPTION 'person_history is append-only (only a key rotation may re-seal)'
            USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END;
$$;
DROP TRIGGER person_history_append_only ON person_history;
CREATE TRIGGER person_history_no_delete BEFORE DELETE ON person_history
    FOR EACH ROW EXECUTE FUNCTION sesshu_append_only();
CREATE TRIGGER person_history_reseal_only BEFORE UPDATE ON person_history
    FOR EACH ROW EXECUTE FUNCTION sesshu_history_reseal_only();
