//! Password hashing: Argon2id with the crate's current recommended parameters, in the PHC
//! string form that records them, so a hash made under weaker parameters can be recognised and
//! replaced at the next successful login.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::CryptoError;

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| CryptoError::Seal)
}

/// Whether `password` matches `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Whether `hash` was made with other (older, weaker) parameters than today's.
pub fn needs_rehash(hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    let current = Params::default();
    parsed.algorithm.as_str() != "argon2id"
        || Params::try_from(&parsed).map_or(true, |p| {
            p.m_cost() < current.m_cost()
                || p.t_cost() < current.t_cost()
                || p.p_cost() < current.p_cost()
        })
}

/// A first (or reset) password that satisfies `policy`: 14 letters and digits without
/// look-alikes, at least one of each. The person must change it at the next login.
pub fn first_password(login: &str, policy: &sesshu_domain::access::PasswordPolicy) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    loop {
        let p: String = (0..14)
            .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
            .collect();
        if policy.check(login, &p).is_ok() {
            return p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_weaker_ones_are_recognised() {
        let h = hash_password("sakura2026").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("sakura2026", &h));
        assert!(!verify_password("sakura2027", &h));
        assert!(!verify_password("sakura2026", "not a hash"));
        assert!(!needs_rehash(&h));
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"sakura2026", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(verify_password("sakura2026", &weak));
        assert!(needs_rehash(&weak));
    }
}
