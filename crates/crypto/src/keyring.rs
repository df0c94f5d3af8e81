//! The master keys: loaded from a key file (`v1 <64 hex digits>` per line) or the environment.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("鍵ファイルを読めません ({path}): {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("鍵ファイルを書けません ({path}): {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("鍵ファイルが既に存在します ({0}): 上書きしません")]
    Exists(String),
    #[error("鍵ファイルの{line}行目が不正です: 'v<版> <64桁の16進数>' の形式で書いてください")]
    Syntax { line: usize },
    #[error("鍵ファイルに鍵がありません")]
    Empty,
    #[error("鍵ファイル ({path}) は所有者以外も読めます (mode {mode:o}): chmod 600 にしてください")]
    Permissions { path: String, mode: u32 },
}

/// 32 secret bytes, wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn from_hex(s: &str) -> Option<Self> {
        let mut k = [0u8; 32];
        hex::decode_to_slice(s, &mut k).ok()?;
        Some(Self(k))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(**redacted**)")
    }
}

/// Every key version the deployment knows; the highest is current for new ciphertexts.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: BTreeMap<u32, MasterKey>,
}

impl Keyring {
    /// A keyring with one fresh key, version 1.
    pub fn generate() -> Self {
        Self {
            keys: BTreeMap::from([(1, MasterKey::generate())]),
        }
    }

    /// Adds a fresh key one version above the current and returns its version.
    pub fn add_generated(&mut self) -> u32 {
        let v = self.current_version() + 1;
        self.keys.insert(v, MasterKey::generate());
        v
    }

    pub fn current_version(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    pub(crate) fn key(&self, version: u32) -> Option<&MasterKey> {
        self.keys.get(&version)
    }

    /// Parses the key-file text. A bare 64-hex-digit line is taken as version 1, so
    /// `SESSHU_KEY=<hex>` works without ceremony.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut keys = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (version, hexkey) = match line.split_once(char::is_whitespace) {
                Some((v, k)) => {
                    let v = v.strip_prefix('v').and_then(|n| n.parse::<u32>().ok());
                    (v.filter(|n| *n > 0), k.trim())
                }
                None => (Some(1), line),
            };
            let version = version.ok_or(KeyFileError::Syntax { line: i + 1 })?;
            let key = MasterKey::from_hex(hexkey).ok_or(KeyFileError::Syntax { line: i + 1 })?;
            keys.insert(version, key);
        }
        if keys.is_empty() {
            return Err(KeyFileError::Empty);
        }
        Ok(Self { keys })
    }

    pub fn to_file_text(&self) -> String {
        let mut s = String::from("# sesshu key file: keep outside the database and its backups\n");
        for (v, k) in &self.keys {
            s.push_str(&format!("v{v} {}\n", hex::encode(k.bytes())));
        }
        s
    }

    /// Loads a key file, refusing one that others can read.
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let p = path.display().to_string();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = fs::metadata(path).map_err(|source| KeyFileError::Read {
                path: p.clone(),
                source,
            })?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyFileError::Permissions { path: p, mode });
            }
        }
        let text =
            fs::read_to_string(path).map_err(|source| KeyFileError::Read { path: p, source })?;
        Self::parse(&text)
    }

    /// Writes a new key file with mode 0600; refuses to overwrite one.
    pub fn create_file(&self, path: &Path) -> Result<(), KeyFileError> {
        if path.exists() {
            return Err(KeyFileError::Exists(path.display().to_string()));
        }
        self.write_file(path)
    }

    /// Replaces the key file atomically (used after adding a version).
    pub fn write_file(&self, path: &Path) -> Result<(), KeyFileError> {
        let p = path.display().to_string();
        let err = |source| KeyFileError::Write {
            path: p.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("tmp");
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(err)?;
        f.write_all(self.to_file_text().as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        fs::rename(&tmp, path).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_with_mode_0600() -> Result<(), KeyFileError> {
        let dir = tempfile::tempdir().map_err(|e| KeyFileError::Read {
            path: "tmp".into(),
            source: e,
        })?;
        let path = dir.path().join("keys/sesshu.key");
        let mut ring = Keyring::generate();
        ring.add_generated();
        ring.create_file(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
        let loaded = Keyring::load(&path)?;
        assert_eq!(loaded.current_version(), 2);
        assert_eq!(loaded.to_file_text(), ring.to_file_text());
        assert!(matches!(
            ring.create_file(&path),
            Err(KeyFileError::Exists(_))
        ));
        Ok(())
    }

    #[test]
    fn world_readable_key_files_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("k");
        fs::write(&path, Keyring::generate().to_file_text())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
            assert!(matches!(
                Keyring::load(&path),
                Err(KeyFileError::Permissions { .. })
            ));
        }
        Ok(())
    }

    #[test]
    fn bad_lines_are_named_and_keys_never_printed() {
        assert!(matches!(
            Keyring::parse("v1 zz"),
            Err(KeyFileError::Syntax { line: 1 })
        ));
        assert!(matches!(
            Keyring::parse("# only a comment\n"),
            Err(KeyFileError::Empty)
        ));
        let bare = "ab".repeat(32);
        let ring = Keyring::parse(&bare).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(ring.current_version(), 1);
        assert!(!format!("{ring:?}").contains("abab"));
    }
}
