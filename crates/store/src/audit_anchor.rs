//! The audit chains' heads kept outside the database. Someone who can change the database can
//! delete a chain's last entries, a whole chain or every entry, and what is left still links up;
//! only a record of how far each chain had reached, kept where the database's users cannot
//! write, shows that it was cut short. The store advances this record after every append (one
//! small file per chain, replaced atomically), and verification compares the log with it.
//!
//! Two processes appending to one chain may each write their own last entry; whichever lands
//! last may name an entry older than the other's. That is safe: the record only ever names
//! entries that were committed, and the next append moves it on.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A chain's head as it was recorded outside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredHead {
    pub chain: String,
    pub seq: i64,
    pub hash: String,
}

/// The directory holding one `<chain>.head` file per chain (`deployment.head` for `-`).
/// Files are kept open and rewritten in place: a record has a fixed width, so one write
/// replaces it whole. Replacing the file by a rename instead cost ~0.8 ms per append here
/// (ext4 flushes the data of a file renamed over another), eight times the entry itself.
#[derive(Debug)]
pub struct AuditAnchor {
    dir: PathBuf,
    open: std::sync::Mutex<std::collections::HashMap<String, std::fs::File>>,
}

/// Why the record cannot be read or written; names the file, never an entry's content.
#[derive(Debug, thiserror::Error)]
#[error("監査ログの先頭の保管場所 {path} を{action}: {source}")]
pub struct AnchorError {
    path: String,
    action: &'static str,
    #[source]
    source: std::io::Error,
}

const SUFFIX: &str = ".head";
const DEPLOYMENT_FILE: &str = "deployment";
/// `{seq:020} {hash}\n`.
const RECORD: usize = 20 + 1 + 64 + 1;

impl AuditAnchor {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            open: Default::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_of(&self, chain: &str) -> PathBuf {
        let name = if chain == crate::audit::DEPLOYMENT {
            DEPLOYMENT_FILE
        } else {
            chain
        };
        self.dir.join(format!("{name}{SUFFIX}"))
    }

    fn error(path: &Path, action: &'static str, source: std::io::Error) -> AnchorError {
        AnchorError {
            path: path.display().to_string(),
            action,
            source,
        }
    }

    /// Records that `chain` reached `seq` with `hash`, unless the record already names a later
    /// entry (another process may have appended after us).
    pub fn advance(&self, chain: &str, seq: i64, hash: &str) -> Result<(), AnchorError> {
        let path = self.file_of(chain);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if !open.get(chain).is_some_and(|f| still_at(f, &path)) {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(&self.dir)
                .map_err(|e| Self::error(&self.dir, "作成できません", e))?;
            let mut options = std::fs::OpenOptions::new();
            options.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options
                .open(&path)
                .map_err(|e| Self::error(&path, "開けません", e))?;
            open.insert(chain.to_owned(), file);
        }
        let Some(mut file) = open.get(chain) else {
            return Ok(());
        };
        let mut io = || -> std::io::Result<()> {
            let mut kept = Vec::with_capacity(RECORD);
            file.seek(SeekFrom::Start(0))?;
            (&mut file).take(RECORD as u64 + 1).read_to_end(&mut kept)?;
            // An unreadable record is replaced: verification reads the same file and has said
            // so; refusing to move on would stop every operation instead.
            if parse(&kept).is_some_and(|(k, _)| k >= seq) {
                return Ok(());
            }
            file.seek(SeekFrom::Start(0))?;
            file.write_all(format!("{seq:020} {hash}\n").as_bytes())?;
            if kept.len() != RECORD {
                file.set_len(RECORD as u64)?;
            }
            Ok(())
        };
        io().map_err(|e| {
            open.remove(chain);
            Self::error(&path, "書けません", e)
        })
    }

    fn read(&self, path: &Path) -> Result<Option<(i64, String)>, AnchorError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::error(path, "読めません", e)),
        };
        match parse(&bytes) {
            Some(head) => Ok(Some(head)),
            None => Err(Self::error(
                path,
                "読めません",
                std::io::Error::new(std::io::ErrorKind::InvalidData, "形式が不正です"),
            )),
        }
    }

    /// Every chain's recorded head. No directory yet means nothing was recorded.
    pub fn heads(&self) -> Result<Vec<AnchoredHead>, AnchorError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::error(&self.dir, "読めません", e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Self::error(&self.dir, "読めません", e))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
                continue;
            };
            if stem.starts_with('.') {
                continue;
            }
            let chain = if stem == DEPLOYMENT_FILE {
                crate::audit::DEPLOYMENT.to_owned()
            } else {
                stem.to_owned()
            };
            if let Some((seq, hash)) = self.read(&entry.path())? {
                out.push(AnchoredHead { chain, seq, hash });
            }
        }
        out.sort_by(|a, b| a.chain.cmp(&b.chain));
        Ok(out)
    }

    /// Moves a record that belongs to another register aside (a new register was created with
    /// the same key file), keeping it as evidence; answers where it went.
    pub fn set_aside(&self) -> Result<Option<PathBuf>, AnchorError> {
        if !self.dir.exists() {
            return Ok(None);
        }
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let mut aside = self.dir.as_os_str().to_owned();
        aside.push(format!(".replaced-{stamp}"));
        let aside = PathBuf::from(aside);
        std::fs::rename(&self.dir, &aside).map_err(|e| Self::error(&self.dir, "移せません", e))?;
        Ok(Some(aside))
    }
}

/// A record: the sequence number and the entry's hash.
fn parse(bytes: &[u8]) -> Option<(i64, String)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parts = text.split_whitespace();
    let seq = parts.next()?.parse::<i64>().ok()?;
    let hash = parts.next()?;
    (parts.next().is_none()
        && seq > 0
        && hash.len() == 64
        && hash.bytes().all(|b| b.is_ascii_hexdigit()))
    .then(|| (seq, hash.to_owned()))
}

/// Whether the open file is still the one at `path` (not moved aside or replaced since).
#[cfg(unix)]
fn still_at(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_file: &std::fs::File, _path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn a_head_only_moves_forward_and_reads_back_per_chain() {
        let dir = tempfile::tempdir().unwrap();
        let anchor = AuditAnchor::new(dir.path().join("heads"));
        assert!(anchor.heads().unwrap().is_empty());
        anchor.advance("011002", 12, H1).unwrap();
        // Moved aside by the operator: the next append starts a new record where it belongs.
        assert!(anchor.set_aside().unwrap().is_some());
        anchor.advance("011002", 5, H2).unwrap();
        anchor.advance("011002", 3, H1).unwrap();
        anchor.advance("-", 1, H1).unwrap();
        let heads = anchor.heads().unwrap();
        assert_eq!(
            heads,
            vec![
                AnchoredHead {
                    chain: "-".into(),
                    seq: 1,
                    hash: H1.into()
                },
                AnchoredHead {
                    chain: "011002".into(),
                    seq: 5,
                    hash: H2.into()
                },
            ]
        );
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let anchor = AuditAnchor::new(dir.path());
        std::fs::write(dir.path().join("011002.head"), "7 nothex\n").unwrap();
        let e = anchor.heads().unwrap_err().to_string();
        assert!(e.contains("011002.head"), "{e}");
        // The next append replaces it whole.
        anchor.advance("011002", 8, H1).unwrap();
        assert_eq!(anchor.heads().unwrap()[0].seq, 8);
    }
}
