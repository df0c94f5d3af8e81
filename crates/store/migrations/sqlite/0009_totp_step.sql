-- The last time step whose code was accepted: a code is accepted once (RFC 6238 §5.2).
ALTER TABLE account ADD COLUMN totp_last_step INTEGER;
