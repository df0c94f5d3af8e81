//! The master keys: loaded from a key file (`v1 <64 hex digits>` per line) or the environment.
//!
//! A retired version (`v1 retired <64 hex digits>`) keeps only the key its record signatures
//! were made with, derived one way from its master key: past audit checkpoints and retention
//! summaries still verify, while nothing sealed under it can be opened any more.

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

/// Why a key version cannot be retired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetireError {
    #[error("鍵 v{0} は鍵ファイルにありません")]
    Unknown(u32),
    #[error("鍵 v{0} はすでに廃止されています")]
    AlreadyRetired(u32),
    #[error("鍵 v{0} は現行の鍵です: 先に keys rotate で新しい版を作ってください")]
    Current(u32),
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

/// Every key version the deployment knows; the highest live one is current for new ciphertexts.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: BTreeMap<u32, MasterKey>,
    /// Retired versions: only the record-signing key derived from the destroyed master key.
    retired: BTreeMap<u32, MasterKey>,
}

impl Keyring {
    /// A keyring with one fresh key, version 1.
    pub fn generate() -> Self {
        Self {
            keys: BTreeMap::from([(1, MasterKey::generate())]),
            retired: BTreeMap::new(),
        }
    }

    /// Adds a fresh key one version above every version known (live or retired) and returns it.
    pub fn add_generated(&mut self) -> u32 {
        let highest_retired = self.retired.keys().next_back().copied().unwrap_or(0);
        let v = self.current_version().max(highest_retired) + 1;
        self.keys.insert(v, MasterKey::generate());
        v
    }

    pub fn current_version(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    /// The live versions: those whose master key is still held.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    /// The retired versions: only their record signatures still verify.
    pub fn retired_versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.retired.keys().copied()
    }

    pub(crate) fn key(&self, version: u32) -> Option<&MasterKey> {
        self.keys.get(&version)
    }

    /// The record-signing key of a version, live or retired.
    pub(crate) fn signing_key(&self, version: u32) -> Option<MasterKey> {
        match self.keys.get(&version) {
            Some(master) => Some(MasterKey(crate::signing::record_signing_key(master))),
            None => self.retired.get(&version).cloned(),
        }
    }

    /// Destroys a version's master key, keeping only its record-signing key. Whoever later
    /// obtains this keyring cannot open what was sealed under it. The caller must have made
    /// sure nothing sealed under it remains.
    pub fn retire(&mut self, version: u32) -> Result<(), RetireError> {
        if self.retired.contains_key(&version) {
            return Err(RetireError::AlreadyRetired(version));
        }
        if version == self.current_version() {
            return Err(RetireError::Current(version));
        }
        let master = self
            .keys
            .remove(&version)
            .ok_or(RetireError::Unknown(version))?;
        self.retired.insert(
            version,
            MasterKey(crate::signing::record_signing_key(&master)),
        );
        Ok(())
    }

    /// Parses the key-file text. A bare 64-hex-digit line is taken as version 1, so
    /// `SESSHU_KEY=<hex>` works without ceremony.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut keys = BTreeMap::new();
        let mut retired = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let syntax = || KeyFileError::Syntax { line: i + 1 };
            let words: Vec<&str> = line.split_whitespace().collect();
            let version = |w: &str| {
                w.strip_prefix('v')
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n > 0)
            };
            let (version, is_retired, hexkey) = match words.as_slice() {
                [key] => (Some(1), false, *key),
                [v, key] => (version(v), false, *key),
                [v, "retired", key] => (version(v), true, *key),
                _ => return Err(syntax()),
            };
            let version = version.ok_or_else(syntax)?;
            let key = MasterKey::from_hex(hexkey).ok_or_else(syntax)?;
            let taken = if is_retired {
                keys.contains_key(&version) || retired.insert(version, key).is_some()
            } else {
                retired.contains_key(&version) || keys.insert(version, key).is_some()
            };
            if taken {
                return Err(syntax());
            }
        }
        if keys.is_empty() {
            return Err(KeyFileError::Empty);
        }
        Ok(Self { keys, retired })
    }

    pub fn to_file_text(&self) -> String {
        let mut s = String::from("# sesshu key file: keep outside the database and its backups\n");
        if !self.retired.is_empty() {
            s.push_str("# 'retired' lines hold only the key that verifies past audit signatures\n");
        }
        for (v, k) in &self.retired {
            s.push_str(&format!("v{v} retired {}\n", hex::encode(k.bytes())));
        }
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

/// The keyring a long-running process uses: the key file as it is now. A server started before
/// `keys rotate` or `keys retire` follows them without a restart — the file is looked at (one
/// `stat`) whenever the keyring is wanted, and read again when it changed.
#[derive(Debug)]
pub struct KeyringSource {
    file: Option<std::path::PathBuf>,
    cached: std::sync::RwLock<(Option<FileStamp>, std::sync::Arc<Keyring>)>,
}

/// What tells a replaced key file from the one read (`write_file` renames a new file in).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Result<Self, KeyFileError> {
        let meta = fs::metadata(path).map_err(|source| KeyFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&meta),
        })
    }
}

impl KeyringSource {
    /// A keyring that never changes (`SESSHU_KEY`, tests, the demo).
    pub fn fixed(keyring: Keyring) -> Self {
        Self {
            file: None,
            cached: std::sync::RwLock::new((None, std::sync::Arc::new(keyring))),
        }
    }

    /// The key file at `path`, read now and again whenever it changes.
    pub fn file(path: &Path) -> Result<Self, KeyFileError> {
        let stamp = FileStamp::of(path)?;
        let keyring = Keyring::load(path)?;
        Ok(Self {
            file: Some(path.to_path_buf()),
            cached: std::sync::RwLock::new((Some(stamp), std::sync::Arc::new(keyring))),
        })
    }

    /// The keyring as the key file holds it now. A key file that can no longer be read is an
    /// error, not a silent fallback to the keys read before.
    pub fn get(&self) -> Result<std::sync::Arc<Keyring>, KeyFileError> {
        let cached = || {
            self.cached
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let Some(path) = &self.file else {
            return Ok(cached().1.clone());
        };
        let stamp = FileStamp::of(path)?;
        {
            let c = cached();
            if c.0.as_ref() == Some(&stamp) {
                return Ok(c.1.clone());
            }
        }
        let keyring = std::sync::Arc::new(Keyring::load(path)?);
        let mut c = self
            .cached
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *c = (Some(stamp), keyring.clone());
        Ok(keyring)
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
    fn a_running_process_follows_the_key_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sesshu.key");
        let mut ring = Keyring::generate();
        ring.create_file(&path)?;
        let source = KeyringSource::file(&path)?;
        assert_eq!(source.get()?.current_version(), 1);
        ring.add_generated();
        ring.write_file(&path)?;
        assert_eq!(source.get()?.current_version(), 2, "a rotation is seen");
        ring.retire(1)?;
        ring.write_file(&path)?;
        assert_eq!(source.get()?.versions().collect::<Vec<_>>(), vec![2]);
        fs::remove_file(&path)?;
        assert!(source.get().is_err(), "a vanished key file is an error");
        let fixed = KeyringSource::fixed(Keyring::generate());
        assert_eq!(fixed.get()?.current_version(), 1);
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
