//! The documents section of `sesshu.toml`: the sender block, the city's templates, the fonts,
//! batch size, four-eyes and the certificate signing key. Read by the command line's
//! configuration, used here.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Documents per PDF file when the city has not said.
pub const DEFAULT_PER_FILE: usize = 500;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentsConfig {
    /// The city's template files (same names as the shipped ones win over them); also where a
    /// logo is looked up.
    pub templates_dir: Option<PathBuf>,
    /// Font directories [default: Debian's IPAex (and IPAmj when installed)].
    pub font_dirs: Option<Vec<PathBuf>>,
    pub department: Option<String>,
    /// Who signs certificates, e.g. 町田市長.
    pub issuer: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub note: Option<String>,
    pub logo: Option<String>,
    /// Documents per PDF file in a batch [default 500].
    pub per_file: Option<usize>,
    /// Notice runs need a second user's approval before they are issued (four-eyes).
    #[serde(default)]
    pub approval: bool,
    /// The certificate signing keyring [default: sesshu-data/certificate.key].
    pub certificate_key_file: Option<PathBuf>,
    /// The first digit of a ticket's number line per series key [default 9 for all].
    #[serde(default)]
    pub ticket_kinds: HashMap<String, u8>,
    /// Where the server writes what it prints from the pages (notice runs, certificates)
    /// [default: `documents` beside the key file].
    pub output_dir: Option<PathBuf>,
}

impl DocumentsConfig {
    /// Documents per PDF file.
    pub fn per_file(&self) -> usize {
        self.per_file.filter(|n| *n > 0).unwrap_or(DEFAULT_PER_FILE)
    }
}

/// The `[mail]` section of `sesshu.toml`: the city's mail relay for reminder mails (F3).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The relay's host name. Without it nothing is sent (a dry run still lists who would be).
    pub smtp_host: Option<String>,
    /// [default: 587 with `starttls`, 465 with `tls`, 25 with `none`]
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls`, or `none` — only for a relay on this host (localhost).
    pub security: Option<String>,
    pub username: Option<String>,
    /// Or `SESSHU_SMTP_PASSWORD`, which wins.
    pub password: Option<String>,
    /// The sender, e.g. `町田市 保健予防課 <yobou@city.example.lg.jp>`.
    pub from: Option<String>,
    /// Where guardians reach this server's unsubscribe page, e.g. `https://sesshu.city.example.lg.jp`.
    pub public_url: Option<String>,
    /// Tries per mail before it is recorded as failed [default 3].
    pub attempts: Option<u32>,
    /// Seconds before the second try, doubling after [default 5].
    pub retry_seconds: Option<u64>,
}

/// The `[retention]` section of `sesshu.toml`: how long a person's records are kept after death
/// or move-out before they may be deleted (P10).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Whole years after death or move-out [default 5, the least the Act's rules allow].
    pub years_after_end: Option<u32>,
}
