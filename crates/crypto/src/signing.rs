//! Signatures the deployment makes over its own records (the audit log's retention summaries):
//! HMAC-SHA256 under a key derived from the master key, so that only the key holder — not
//! whoever can write to the database — can vouch for a removal.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{CryptoError, Keyring};

fn mac(keyring: &Keyring, version: u32) -> Result<Hmac<Sha256>, CryptoError> {
    let master = keyring
        .key(version)
        .ok_or(CryptoError::UnknownKeyVersion(version))?;
    let hk = Hkdf::<Sha256>::new(Some(b"sesshu/record-signing/v1"), master.bytes());
    let mut key = [0u8; 32];
    hk.expand(b"audit", &mut key)
        .map_err(|_| CryptoError::Seal)?;
    <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(|_| CryptoError::Seal)
}

/// `v<version>:<hex>` over `message`, under the current key version.
pub fn sign(keyring: &Keyring, message: &str) -> Result<String, CryptoError> {
    let version = keyring.current_version();
    let mut m = mac(keyring, version)?;
    m.update(message.as_bytes());
    Ok(format!(
        "v{version}:{}",
        hex::encode(m.finalize().into_bytes())
    ))
}

/// Whether `signature` was made by [`sign`] over `message` with a key of this keyring.
pub fn verify(keyring: &Keyring, message: &str, signature: &str) -> bool {
    let Some((v, tag)) = signature.split_once(':') else {
        return false;
    };
    let (Some(version), Ok(tag)) = (
        v.strip_prefix('v').and_then(|n| n.parse::<u32>().ok()),
        hex::decode(tag),
    ) else {
        return false;
    };
    mac(keyring, version).is_ok_and(|mut m| {
        m.update(message.as_bytes());
        m.verify_slice(&tag).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_keyring_and_the_message() {
        let keys = Keyring::generate();
        let s = sign(&keys, "132098|6|abc").unwrap();
        assert!(verify(&keys, "132098|6|abc", &s));
        assert!(!verify(&keys, "132098|7|abc", &s));
        assert!(!verify(&Keyring::generate(), "132098|6|abc", &s));
        assert!(!verify(&keys, "132098|6|abc", "v1:00"));
        let mut rotated = keys.clone();
        rotated.add_generated();
        assert!(
            verify(&rotated, "132098|6|abc", &s),
            "older versions still verify"
        );
    }
}
