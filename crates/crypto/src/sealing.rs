//! Sealing a My Number: XChaCha20-Poly1305 under a per-tenant key, with associated data that
//! binds the ciphertext to its municipality, table, row and key version; and the keyed blind
//! index that finds it without decrypting.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sesshu_domain::{MunicipalityCode, MyNumber};
use sha2::Sha256;
use zeroize::Zeroize;

use crate::Keyring;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("鍵の版 {0} が鍵ファイルにありません")]
    UnknownKeyVersion(u32),
    #[error("暗号文を復号できません (改ざん、または別の行・団体の暗号文)")]
    Open,
    #[error("暗号化に失敗しました")]
    Seal,
}

const NONCE_LEN: usize = 24;

/// What a ciphertext is bound to. Moving it to another row or tenant makes it fail to open.
#[derive(Debug, Clone, Copy)]
pub struct MyNumberAad<'a> {
    pub table: &'a str,
    pub row_key: &'a str,
}

/// A ciphertext with the key version that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_version: u32,
    /// nonce ‖ ciphertext ‖ tag
    pub bytes: Vec<u8>,
}

/// HMAC-SHA256 of the number under a per-tenant key, truncated to 16 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindIndex(pub [u8; 16]);

struct VersionKeys {
    version: u32,
    cipher: XChaCha20Poly1305,
    index: Hmac<Sha256>,
}

/// One municipality's derived keys, for every version of the keyring.
pub struct TenantCrypto {
    municipality: String,
    keys: Vec<VersionKeys>,
}

impl std::fmt::Debug for TenantCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantCrypto")
            .field("municipality", &self.municipality)
            .finish_non_exhaustive()
    }
}

impl TenantCrypto {
    pub fn derive(keyring: &Keyring, municipality: MunicipalityCode) -> Result<Self, CryptoError> {
        let tenant = municipality.as_string();
        let mut keys = Vec::new();
        for version in keyring.versions() {
            let master = keyring
                .key(version)
                .ok_or(CryptoError::UnknownKeyVersion(version))?;
            let hk = Hkdf::<Sha256>::new(Some(b"sesshu/tenant-keys/v1"), master.bytes());
            let mut enc = [0u8; 32];
            let mut idx = [0u8; 32];
            hk.expand(format!("mynumber-seal|{tenant}").as_bytes(), &mut enc)
                .map_err(|_| CryptoError::Seal)?;
            hk.expand(format!("mynumber-index|{tenant}").as_bytes(), &mut idx)
                .map_err(|_| CryptoError::Seal)?;
            let cipher = XChaCha20Poly1305::new((&enc).into());
            let index =
                <Hmac<Sha256> as Mac>::new_from_slice(&idx).map_err(|_| CryptoError::Seal)?;
            enc.zeroize();
            idx.zeroize();
            keys.push(VersionKeys {
                version,
                cipher,
                index,
            });
        }
        Ok(Self {
            municipality: tenant,
            keys,
        })
    }

    pub fn current_version(&self) -> u32 {
        self.keys.last().map_or(0, |k| k.version)
    }

    fn keys(&self, version: u32) -> Result<&VersionKeys, CryptoError> {
        self.keys
            .iter()
            .find(|k| k.version == version)
            .ok_or(CryptoError::UnknownKeyVersion(version))
    }

    fn aad(&self, aad: MyNumberAad<'_>, version: u32) -> Vec<u8> {
        format!(
            "sesshu:mynumber:v1|{}|{}|{}|{}",
            self.municipality, aad.table, aad.row_key, version
        )
        .into_bytes()
    }

    /// Encrypts under the current key version.
    pub fn seal(&self, number: &MyNumber, aad: MyNumberAad<'_>) -> Result<Sealed, CryptoError> {
        self.seal_with(number, aad, self.current_version())
    }

    pub fn seal_with(
        &self,
        number: &MyNumber,
        aad: MyNumberAad<'_>,
        version: u32,
    ) -> Result<Sealed, CryptoError> {
        let keys = self.keys(version)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut plain = number.expose();
        let aad_bytes = self.aad(aad, version);
        let ct = keys
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| CryptoError::Seal);
        plain.zeroize();
        let mut bytes = Vec::with_capacity(NONCE_LEN + 12 + 16);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ct?);
        Ok(Sealed {
            key_version: version,
            bytes,
        })
    }

    pub fn open(&self, sealed: &Sealed, aad: MyNumberAad<'_>) -> Result<MyNumber, CryptoError> {
        let keys = self.keys(sealed.key_version)?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ct) = sealed.bytes.split_at(NONCE_LEN);
        let aad_bytes = self.aad(aad, sealed.key_version);
        let mut plain = keys
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| CryptoError::Open)?;
        let parsed = std::str::from_utf8(&plain)
            .ok()
            .and_then(|s| MyNumber::parse(s).ok());
        plain.zeroize();
        parsed.ok_or(CryptoError::Open)
    }

    /// The blind index under one key version.
    pub fn blind_index_with(
        &self,
        number: &MyNumber,
        version: u32,
    ) -> Result<BlindIndex, CryptoError> {
        let mut mac = self.keys(version)?.index.clone();
        let mut plain = number.expose();
        mac.update(&plain);
        plain.zeroize();
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag[..16]);
        Ok(BlindIndex(out))
    }

    pub fn blind_index(&self, number: &MyNumber) -> Result<BlindIndex, CryptoError> {
        self.blind_index_with(number, self.current_version())
    }

    /// The index under every known version: a lookup matches rows not yet rotated too.
    pub fn blind_indexes(&self, number: &MyNumber) -> Result<Vec<(u32, BlindIndex)>, CryptoError> {
        self.keys
            .iter()
            .map(|k| Ok((k.version, self.blind_index_with(number, k.version)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic number made at run time: 12345678901 plus its check digit.
    fn number() -> MyNumber {
        MyNumber::from_first_eleven([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
            .unwrap_or_else(|| unreachable!())
    }
    fn tenant(code: &str, ring: &Keyring) -> TenantCrypto {
        let m = MunicipalityCode::parse(code).unwrap_or_else(|e| unreachable!("{e}"));
        TenantCrypto::derive(ring, m).unwrap_or_else(|e| unreachable!("{e}"))
    }
    const ROW: MyNumberAad<'static> = MyNumberAad {
        table: "person",
        row_key: "1001",
    };

    #[test]
    fn seal_and_open_round_trip_without_plaintext_in_ciphertext() -> Result<(), CryptoError> {
        let ring = Keyring::generate();
        let t = tenant("132098", &ring);
        let n = number();
        let sealed = t.seal(&n, ROW)?;
        assert_eq!(sealed.key_version, 1);
        assert!(!sealed.bytes.windows(12).any(|w| w == n.expose()));
        assert_eq!(t.open(&sealed, ROW)?, n);
        // A fresh nonce each time: the same number never gives the same ciphertext.
        assert_ne!(t.seal(&n, ROW)?.bytes, sealed.bytes);
        Ok(())
    }

    #[test]
    fn ciphertext_is_bound_to_row_tenant_and_version() -> Result<(), CryptoError> {
        let ring = Keyring::generate();
        let machida = tenant("132098", &ring);
        let sapporo = tenant("011002", &ring);
        let sealed = machida.seal(&number(), ROW)?;
        let other_row = MyNumberAad {
            table: "person",
            row_key: "1002",
        };
        assert_eq!(machida.open(&sealed, other_row), Err(CryptoError::Open));
        assert_eq!(sapporo.open(&sealed, ROW), Err(CryptoError::Open));
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.bytes.last_mut() {
            *b ^= 1;
        }
        assert_eq!(machida.open(&tampered, ROW), Err(CryptoError::Open));
        let relabelled = Sealed {
            key_version: 2,
            ..sealed
        };
        assert_eq!(
            machida.open(&relabelled, ROW),
            Err(CryptoError::UnknownKeyVersion(2))
        );
        Ok(())
    }

    #[test]
    fn blind_index_is_per_tenant_and_per_version() -> Result<(), CryptoError> {
        let mut ring = Keyring::generate();
        let n = number();
        let before = tenant("132098", &ring).blind_index(&n)?;
        assert_eq!(before, tenant("132098", &ring).blind_index(&n)?);
        assert_ne!(before, tenant("011002", &ring).blind_index(&n)?);
        ring.add_generated();
        let t = tenant("132098", &ring);
        let all = t.blind_indexes(&n)?;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], (1, before.clone()));
        assert_ne!(all[1].1, before);
        // Old ciphertexts still open after rotation adds a version.
        let old = tenant(
            "132098",
            &Keyring::parse(&ring.to_file_text()).unwrap_or_else(|e| unreachable!("{e}")),
        )
        .seal_with(&n, ROW, 1)?;
        assert_eq!(t.open(&old, ROW)?, n);
        Ok(())
    }
}
