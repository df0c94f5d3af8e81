//! Signatures the deployment makes over its own records (the audit log's retention summaries):
//! HMAC-SHA256 under a key derived from the master key, so that only the key holder — not
//! whoever can write to the database — can vouch for a removal.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use sesshu_domain::MunicipalityCode;

use crate::{CryptoError, Keyring};

/// The record-signing key of a master key. One-way, so a retired version can keep it (and its
/// signatures keep verifying) without keeping what opens its ciphertexts.
pub(crate) fn record_signing_key(master: &crate::MasterKey) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(b"sesshu/record-signing/v1"), master.bytes());
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8,160-byte limit: expand cannot fail.
    let _ = hk.expand(b"audit", &mut key);
    key
}

fn mac(keyring: &Keyring, version: u32) -> Result<Hmac<Sha256>, CryptoError> {
    let key = keyring
        .signing_key(version)
        .ok_or(CryptoError::UnknownKeyVersion(version))?;
    <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).map_err(|_| CryptoError::Seal)
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
    tenant: MunicipalityCode,
    login: &str,
    secret: &[u8],
) -> Result<String, CryptoError> {
    let account = account_context(tenant, login);
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
    tenant: MunicipalityCode,
    login: &str,
    sealed: &str,
) -> Result<Vec<u8>, CryptoError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let account = account_context(tenant, login);
    let version = account_secret_version(sealed).ok_or(CryptoError::Open)?;
    let (_, body) = sealed.split_once(':').ok_or(CryptoError::Open)?;
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

/// The key version an account secret is sealed under, as its `v<version>:` prefix says.
pub fn account_secret_version(sealed: &str) -> Option<u32> {
    sealed
        .split_once(':')
        .and_then(|(v, _)| v.strip_prefix('v'))
        .and_then(|n| n.parse::<u32>().ok())
}

/// What an account secret is bound to: the municipality and the login.
fn account_context(tenant: MunicipalityCode, login: &str) -> String {
    format!("{}|{login}", tenant.as_string())
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

    fn code(s: &str) -> MunicipalityCode {
        MunicipalityCode::parse(s).unwrap()
    }

    #[test]
    fn account_secrets_open_only_for_their_account() {
        let keys = Keyring::generate();
        let machida = code("132098");
        let sealed =
            seal_account_secret(&keys, machida, "tanaka", b"0123456789abcdefghij").unwrap();
        assert_eq!(
            open_account_secret(&keys, machida, "tanaka", &sealed).unwrap(),
            b"0123456789abcdefghij"
        );
        assert_eq!(account_secret_version(&sealed), Some(1));
        assert!(open_account_secret(&keys, machida, "sato", &sealed).is_err());
        assert!(open_account_secret(&keys, code("011002"), "tanaka", &sealed).is_err());
        assert!(open_account_secret(&Keyring::generate(), machida, "tanaka", &sealed).is_err());
    }

    #[test]
    fn a_retired_version_still_verifies_its_signatures_but_opens_nothing() {
        let mut keys = Keyring::generate();
        let machida = code("132098");
        let old_signature = sign(&keys, "132098|6|abc").unwrap();
        let old_secret = seal_account_secret(&keys, machida, "tanaka", b"secret").unwrap();
        assert_eq!(
            keys.retire(1),
            Err(crate::keyring::RetireError::Current(1)),
            "the current version cannot be retired"
        );
        keys.add_generated();
        keys.retire(1).unwrap();
        let reloaded = Keyring::parse(&keys.to_file_text()).unwrap();
        assert!(reloaded.to_file_text().contains("v1 retired "));
        assert!(verify(&reloaded, "132098|6|abc", &old_signature));
        assert!(!verify(&reloaded, "132098|6|abd", &old_signature));
        assert!(open_account_secret(&reloaded, machida, "tanaka", &old_secret).is_err());
        assert!(
            crate::TenantCrypto::derive(&reloaded, machida).is_ok_and(|t| t.current_version() == 2)
        );
        assert_eq!(reloaded.versions().collect::<Vec<_>>(), vec![2]);
        let mut next = reloaded.clone();
        next.retire(2).unwrap_err();
        assert_eq!(next.add_generated(), 3);
        next.retire(2).unwrap();
        assert_eq!(next.add_generated(), 4, "versions are never reused");
        assert!(verify(&next, "132098|6|abc", &old_signature));
    }
}
