-- The addresses a token may be used from (IP addresses or networks, separated by spaces); NULL
-- is anywhere. A token holding My Number use or an administrator's permission must have them.
ALTER TABLE api_token ADD COLUMN allow_from TEXT;
