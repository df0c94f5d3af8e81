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

/// Seals a secret an account holds (its TOTP key) under a key derived from the master key and
/// bound to the account: `v<version>:<hex nonce ‖ ciphertext>`.
pub fn seal_account_secret(
    keyring: &Keyring,
    account: &str,
    secret: &[u8],
) -> Result<String, CryptoError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use rand::RngCore;
    let version = keyring.current_version();
    let cipher = XChaCha20Poly1305::new((&account_key(keyring, version)?).into());
    let mut nonce = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: account.as_bytes(),
            },
        )
        .map_err(|_| CryptoError::Seal)?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(format!("v{version}:{}", hex::encode(out)))
}

pub fn open_account_secret(
    keyring: &Keyring,
    account: &str,
    sealed: &str,
) -> Result<Vec<u8>, CryptoError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let (v, body) = sealed.split_once(':').ok_or(CryptoError::Open)?;
    let version = v
        .strip_prefix('v')
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or(CryptoError::Open)?;
    let bytes = hex::decode(body).map_err(|_| CryptoError::Open)?;
    if bytes.len() < 24 {
        return Err(CryptoError::Open);
    }
    let cipher = XChaCha20Poly1305::new((&account_key(keyring, version)?).into());
    cipher
        .decrypt(
            XNonce::from_slice(&bytes[..24]),
            Payload {
                msg: &bytes[24..],
                aad: account.as_bytes(),
            },
        )
        .map_err(|_| CryptoError::Open)
}

fn account_key(keyring: &Keyring, version: u32) -> Result<[u8; 32], CryptoError> {
    let master = keyring
        .key(version)
        .ok_or(CryptoError::UnknownKeyVersion(version))?;
    let hk = Hkdf::<Sha256>::new(Some(b"sesshu/account-secrets/v1"), master.bytes());
    let mut key = [0u8; 32];
    hk.expand(b"totp", &mut key)
        .map_err(|_| CryptoError::Seal)?;
    Ok(key)
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn account_secrets_open_only_for_their_account() {
        let keys = Keyring::generate();
        let sealed = seal_account_secret(&keys, "132098|tanaka", b"0123456789abcdefghij").unwrap();
        assert_eq!(
            open_account_secret(&keys, "132098|tanaka", &sealed).unwrap(),
            b"0123456789abcdefghij"
        );
        assert!(open_account_secret(&keys, "132098|sato", &sealed).is_err());
        assert!(open_account_secret(&Keyring::generate(), "132098|tanaka", &sealed).is_err());
    }
}
