//! Signatures on certificates (予防接種証明書), checkable offline by anyone holding the city's
//! public key.
//!
//! The signing keys are Ed25519, derived per municipality and key version from a keyring of
//! their own (`certificate.key`, beside but separate from the data key): whoever can decrypt
//! the register cannot forge a certificate, and a signing key can be published or rotated
//! without touching the data. A signed certificate travels as a compact token, printed as a
//! QR code:
//!
//! `SSC1.<key id>.<base64url payload>.<base64url signature>`
//!
//! where the signature covers everything before its dot.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use crate::{CryptoError, Keyring};

const TOKEN_PREFIX: &str = "SSC1";
const KEY_PREFIX: &str = "sesshu-certificate-key";

/// Why a token did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("証明書の署名データの形式が不正です")]
    Malformed,
    #[error("署名鍵 {0} を知りません")]
    UnknownKey(String),
    #[error("署名が一致しません: 証明書の内容が改変されているか、別の鍵で署名されています")]
    BadSignature,
    #[error("公開鍵の形式が不正です")]
    BadPublicKey,
}

/// The key one municipality signs its certificates with.
pub struct CertificateSigner {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for CertificateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl CertificateSigner {
    /// The current signing key of `municipality` (its 6-digit code) under `keys`.
    pub fn current(keys: &Keyring, municipality: &str) -> Result<Self, CryptoError> {
        Self::of_version(keys, municipality, keys.current_version())
    }

    pub fn of_version(
        keys: &Keyring,
        municipality: &str,
        version: u32,
    ) -> Result<Self, CryptoError> {
        let master = keys
            .key(version)
            .ok_or(CryptoError::UnknownKeyVersion(version))?;
        let hk = Hkdf::<Sha256>::new(Some(b"sesshu/certificate-signing/v1"), master.bytes());
        let mut seed = [0u8; 32];
        hk.expand(municipality.as_bytes(), &mut seed)
            .map_err(|_| CryptoError::Seal)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(municipality, version, &key.verifying_key());
        Ok(Self { key, key_id })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_key(&self) -> CertificatePublicKey {
        CertificatePublicKey {
            key_id: self.key_id.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The token of `payload`, signed.
    pub fn sign(&self, payload: &[u8]) -> String {
        let signed = format!("{TOKEN_PREFIX}.{}.{}", self.key_id, B64.encode(payload));
        let signature = self.key.sign(signed.as_bytes());
        format!("{signed}.{}", B64.encode(signature.to_bytes()))
    }
}

/// `<municipality>-v<version>-<8 hex of the key's SHA-256>`: names the key without a lookup and
/// changes whenever the key does.
fn key_id(municipality: &str, version: u32, key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("{municipality}-v{version}-{}", hex::encode(&digest[..4]))
}

/// What a verifier needs: published as one line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatePublicKey {
    key_id: String,
    key: VerifyingKey,
}

impl CertificatePublicKey {
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `sesshu-certificate-key <key id> <base64url key>`
    pub fn to_text(&self) -> String {
        format!(
            "{KEY_PREFIX} {} {}",
            self.key_id,
            B64.encode(self.key.as_bytes())
        )
    }

    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let mut parts = text.split_whitespace();
        let (Some(KEY_PREFIX), Some(key_id), Some(key), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::BadPublicKey);
        };
        let bytes: [u8; 32] = B64
            .decode(key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(TokenError::BadPublicKey)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| TokenError::BadPublicKey)?;
        Ok(Self {
            key_id: key_id.to_owned(),
            key,
        })
    }
}

/// The key id a token names, before any check (to find the key to check it with).
pub fn token_key_id(token: &str) -> Result<&str, TokenError> {
    let mut parts = token.trim().split('.');
    match (parts.next(), parts.next()) {
        (Some(TOKEN_PREFIX), Some(id)) if !id.is_empty() => Ok(id),
        _ => Err(TokenError::Malformed),
    }
}

/// The payload of `token` if one of `keys` signed it.
pub fn open_token(token: &str, keys: &[CertificatePublicKey]) -> Result<Vec<u8>, TokenError> {
    let token = token.trim();
    let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let mut parts = signed.split('.');
    let (Some(TOKEN_PREFIX), Some(key_id), Some(payload), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let key = keys
        .iter()
        .find(|k| k.key_id == key_id)
        .ok_or_else(|| TokenError::UnknownKey(key_id.to_owned()))?;
    let signature: [u8; 64] = B64
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(TokenError::Malformed)?;
    key.key
        .verify(signed.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| TokenError::BadSignature)?;
    B64.decode(payload).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_opens_with_the_published_key_and_only_unaltered() {
        let keys = Keyring::generate();
        let signer = CertificateSigner::current(&keys, "132098").unwrap();
        let token = signer.sign(r#"{"id":"C1","n":"山田 太郎"}"#.as_bytes());
        let published = CertificatePublicKey::parse(&signer.public_key().to_text()).unwrap();
        assert_eq!(
            open_token(&token, std::slice::from_ref(&published)).unwrap(),
            r#"{"id":"C1","n":"山田 太郎"}"#.as_bytes()
        );
        assert_eq!(token_key_id(&token).unwrap(), signer.key_id());

        // Any change to the payload breaks the signature.
        let (head, sig) = token.rsplit_once('.').unwrap();
        let (prefix, _) = head.rsplit_once('.').unwrap();
        let forged = format!(
            "{prefix}.{}.{sig}",
            B64.encode(r#"{"id":"C1","n":"山田 次郎"}"#)
        );
        assert_eq!(
            open_token(&forged, std::slice::from_ref(&published)),
            Err(TokenError::BadSignature)
        );
        // Another municipality's key, or another keyring, does not open it.
        let other = CertificateSigner::current(&keys, "011002")
            .unwrap()
            .public_key();
        assert!(matches!(
            open_token(&token, &[other]),
            Err(TokenError::UnknownKey(_))
        ));
        let stranger = CertificateSigner::current(&Keyring::generate(), "132098")
            .unwrap()
            .public_key();
        assert!(open_token(&token, &[stranger]).is_err());
        assert_eq!(
            open_token("SSC1.x", &[published]),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn signing_keys_are_stable_per_version_and_change_on_rotation() {
        let mut keys = Keyring::generate();
        let a = CertificateSigner::current(&keys, "132098").unwrap();
        let again = CertificateSigner::current(&keys, "132098").unwrap();
        assert_eq!(a.public_key(), again.public_key());
        keys.add_generated();
        let b = CertificateSigner::current(&keys, "132098").unwrap();
        assert_ne!(a.key_id(), b.key_id());
        assert!(b.key_id().starts_with("132098-v2-"));
        // The old version still derives, so old certificates keep verifying.
        assert_eq!(
            CertificateSigner::of_version(&keys, "132098", 1)
                .unwrap()
                .public_key(),
            a.public_key()
        );
    }
}
