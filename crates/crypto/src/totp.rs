//! The second factor: RFC 6238 time-based one-time passwords (6 digits, 30 s, SHA-1 as every
//! authenticator app expects, one step of clock skew either way).

use rand::RngCore;
use totp_rs::{Algorithm, Builder, Totp};

use crate::CryptoError;

fn totp(secret: &[u8], account: &str) -> Result<Totp, CryptoError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_issuer(Some("sesshu"))
        .with_account_name(account)
        .build()
        .map_err(|_| CryptoError::Seal)
}

/// A fresh 160-bit key.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::thread_rng().fill_bytes(&mut s);
    s
}

/// A single-use recovery code: ten letters and digits without look-alikes, grouped for reading
/// aloud.
pub fn recovery_code() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let s: Vec<char> = (0..10)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect();
    let (a, b) = s.split_at(5);
    format!(
        "{}-{}",
        a.iter().collect::<String>(),
        b.iter().collect::<String>()
    )
}

/// The `otpauth://` URL an authenticator app scans (`account` without `:`, e.g. `login@132098`).
pub fn enrolment_url(secret: &[u8], account: &str) -> Result<String, CryptoError> {
    totp(secret, account)?
        .to_url()
        .map_err(|_| CryptoError::Seal)
}

/// The time step `code` belongs to, when it is valid at `unix_time`; the caller accepts each
/// step once (RFC 6238 §5.2).
pub fn check(secret: &[u8], code: &str, unix_time: u64) -> Option<u64> {
    totp(secret, "check").ok()?.check(code.trim(), unix_time)
}

/// The code at `unix_time` (for tests and for showing the enrolment worked).
pub fn code_at(secret: &[u8], unix_time: u64) -> Result<String, CryptoError> {
    Ok(totp(secret, "code")?.generate(unix_time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_check_within_one_step_and_not_beyond() {
        let s = new_secret();
        let now = 1_780_000_000;
        let code = code_at(&s, now).unwrap();
        assert_eq!(code.len(), 6);
        assert_eq!(check(&s, &code, now), Some(now / 30));
        assert_eq!(check(&s, &code, now + 30), Some(now / 30));
        assert_eq!(check(&s, &code, now + 120), None);
        assert_eq!(check(&new_secret(), &code, now), None);
        assert!(
            enrolment_url(&s, "tanaka@132098")
                .unwrap()
                .starts_with("otpauth://totp/")
        );
    }
}
