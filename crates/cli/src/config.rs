//! Configuration: command-line flags, then `SESSHU_*` environment variables, then the config
//! file (`sesshu.toml`), then defaults that need no setup.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sesshu_crypto::{Keyring, KeyringSource};
use sesshu_domain::MunicipalityCode;
use sesshu_schedule::RuleBook;
use sesshu_schedule::rules::DEFAULT_RULES;
use sesshu_store::{AuditAnchor, Store};

pub const DEFAULT_CONFIG: &str = "sesshu.toml";
pub const DEFAULT_DATABASE: &str = "sqlite://sesshu-data/sesshu.db";
pub const DEFAULT_KEY_FILE: &str = "sesshu-data/sesshu.key";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_CERTIFICATE_KEY_FILE: &str = "sesshu-data/certificate.key";

/// What the config file may hold.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub key_file: Option<PathBuf>,
    /// Where each audit chain's head is kept outside the database [default: `audit-heads`
    /// beside the key file].
    pub audit_anchor: Option<PathBuf>,
    pub municipality: Option<String>,
    pub listen: Option<String>,
    /// The automatic logout of staff sessions, in seconds (default 900).
    pub idle_seconds: Option<i64>,
    /// TLS: the certificate chain and private key (PEM) `serve` answers with.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    #[serde(default)]
    pub import: ImportConfig,
    #[serde(default)]
    pub documents: DocumentsConfig,
    #[serde(default)]
    pub mail: MailConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
}

pub use sesshu_app::{DocumentsConfig, MailConfig, RetentionConfig};

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    /// Vendor header names mapped to the standard ones, e.g. "カナ氏名" = "氏名カナ".
    #[serde(default)]
    pub aliases: HashMap<String, String>,
}

/// Flags shared by every command (each also readable from the environment).
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Config file [default: ./sesshu.toml when present]
    #[arg(long, global = true, env = "SESSHU_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER:PASS@HOST/DB
    #[arg(long = "database", global = true, env = "SESSHU_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Key file (kept outside the database and its backups)
    #[arg(long, global = true, env = "SESSHU_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Municipality code (6 digits, or 5 without the check digit)
    #[arg(long, global = true, env = "SESSHU_MUNICIPALITY")]
    pub municipality: Option<String>,
}

#[derive(Debug, Default, clap::Args)]
pub struct RulesArg {
    /// A city's own rules file instead of the shipped one
    #[arg(long = "rules", env = "SESSHU_RULES", value_name = "FILE")]
    path: Option<PathBuf>,
}

impl RulesArg {
    pub fn text(&self) -> Result<String> {
        match &self.path {
            Some(p) => std::fs::read_to_string(p)
                .with_context(|| format!("規則ファイル {} を読めません", p.display())),
            None => Ok(DEFAULT_RULES.to_owned()),
        }
    }

    pub fn load(&self) -> Result<RuleBook> {
        Ok(RuleBook::parse(&self.text()?)?)
    }
}

#[derive(Debug)]
pub struct Config {
    pub config_path: PathBuf,
    pub config_file_found: bool,
    pub database_url: String,
    pub key_file: PathBuf,
    pub audit_anchor: PathBuf,
    pub municipality: Option<MunicipalityCode>,
    pub listen: String,
    pub aliases: HashMap<String, String>,
    idle_seconds: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub documents: DocumentsConfig,
    pub mail: MailConfig,
    pub retention: RetentionConfig,
}

impl Config {
    pub fn resolve(args: &GlobalArgs) -> Result<Self> {
        let explicit = args.config.is_some();
        let config_path = args
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let (file, found) = match std::fs::read_to_string(&config_path) {
            Ok(text) => (
                toml::from_str::<FileConfig>(&text).with_context(|| {
                    format!("設定ファイル {} を読めません", config_path.display())
                })?,
                true,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                (FileConfig::default(), false)
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("設定ファイル {} を読めません", config_path.display())
                });
            }
        };
        let municipality = args
            .municipality
            .clone()
            .or(file.municipality)
            .map(|m| MunicipalityCode::parse(&m).with_context(|| format!("団体コード '{m}'")))
            .transpose()?;
        let key_file = args
            .key_file
            .clone()
            .or(file.key_file)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_KEY_FILE));
        Ok(Self {
            audit_anchor: std::env::var_os("SESSHU_AUDIT_ANCHOR")
                .map(PathBuf::from)
                .or(file.audit_anchor)
                .unwrap_or_else(|| audit_anchor_beside(&key_file)),
            key_file,
            config_path,
            config_file_found: found,
            database_url: args
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE.into()),
            municipality,
            listen: std::env::var("SESSHU_LISTEN")
                .ok()
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.into()),
            aliases: file.import.aliases,
            idle_seconds: std::env::var("SESSHU_IDLE_SECONDS")
                .ok()
                .or(file.idle_seconds.map(|s| s.to_string())),
            tls_cert: std::env::var_os("SESSHU_TLS_CERT")
                .map(PathBuf::from)
                .or(file.tls_cert),
            tls_key: std::env::var_os("SESSHU_TLS_KEY")
                .map(PathBuf::from)
                .or(file.tls_key),
            documents: DocumentsConfig {
                templates_dir: std::env::var_os("SESSHU_TEMPLATES_DIR")
                    .map(PathBuf::from)
                    .or(file.documents.templates_dir),
                approval: match std::env::var("SESSHU_NOTICE_APPROVAL").as_deref() {
                    Ok("1" | "true" | "yes") => true,
                    Ok("0" | "false" | "no") => false,
                    _ => file.documents.approval,
                },
                ..file.documents
            },
            mail: MailConfig {
                smtp_host: std::env::var("SESSHU_SMTP_HOST")
                    .ok()
                    .or(file.mail.smtp_host),
                ..file.mail
            },
            retention: file.retention,
        })
    }

    /// The keyring: `SESSHU_KEY` (hex) if set, else the key file.
    pub fn keyring(&self) -> Result<Keyring> {
        if let Ok(text) = std::env::var("SESSHU_KEY") {
            return Keyring::parse(&text).context("SESSHU_KEY");
        }
        Keyring::load(&self.key_file).map_err(|e| {
            anyhow::anyhow!("{e}\n鍵ファイルがない場合は `sesshu init` で作成してください")
        })
    }

    /// The certificate signing keyring: `SESSHU_CERTIFICATE_KEY` (hex) if set, else its file.
    pub fn certificate_keyring(&self) -> Result<Keyring> {
        if let Ok(text) = std::env::var("SESSHU_CERTIFICATE_KEY") {
            return Keyring::parse(&text).context("SESSHU_CERTIFICATE_KEY");
        }
        let path = self.certificate_key_file();
        Keyring::load(&path).map_err(|e| {
            anyhow::anyhow!(
                "{e}\n証明書の署名鍵がない場合は `sesshu keys certificate-init` で作成してください"
            )
        })
    }

    pub fn certificate_key_file(&self) -> PathBuf {
        self.documents
            .certificate_key_file
            .clone()
            .or_else(|| std::env::var_os("SESSHU_CERTIFICATE_KEY_FILE").map(PathBuf::from))
            .unwrap_or_else(|| {
                // Beside the data key, so a deployment that moved one finds the other.
                self.key_file
                    .parent()
                    .map(|d| d.join("certificate.key"))
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_CERTIFICATE_KEY_FILE))
            })
    }

    /// The application layer over this configuration's store, keys, rules and documents.
    pub fn app(&self, store: Store, rules: &RulesArg) -> Result<sesshu_app::App> {
        let keys = match std::env::var("SESSHU_KEY") {
            Ok(_) => KeyringSource::fixed(self.keyring()?),
            Err(_) => KeyringSource::file(&self.key_file).map_err(|e| {
                anyhow::anyhow!("{e}\n鍵ファイルがない場合は `sesshu init` で作成してください")
            })?,
        };
        let mut app = sesshu_app::App::new(
            store,
            keys,
            Arc::new(sesshu_schedule::Engine::new(rules.load()?)),
        )
        .with_documents(self.documents.clone())
        .with_output_dir(
            self.key_file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| d.join("documents"))
                .unwrap_or_else(|| PathBuf::from("documents")),
        );
        if let Some(keys) = self.certificate_keys()? {
            app = app.with_certificate_keys(keys);
        }
        Ok(app)
    }

    /// The certificate signing keys, when there are any (`SESSHU_CERTIFICATE_KEY`, or its file).
    fn certificate_keys(&self) -> Result<Option<KeyringSource>> {
        if std::env::var("SESSHU_CERTIFICATE_KEY").is_ok() {
            return Ok(Some(KeyringSource::fixed(self.certificate_keyring()?)));
        }
        let path = self.certificate_key_file();
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(KeyringSource::file(&path).with_context(|| {
            format!("証明書の署名鍵 {} を読めません", path.display())
        })?))
    }

    /// The register, which must exist: only `init` creates one. Its audit chains' heads are
    /// kept outside it as they advance.
    pub async fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.database_url)
            .await
            .with_context(|| format!("データベース {}", redact_url(&self.database_url)))?
            .with_audit_anchor(AuditAnchor::new(&self.audit_anchor)))
    }

    /// The register, created (with its directory) when it is not there: `init` only. Heads
    /// kept for an earlier register at the same place are set aside (and named), not compared
    /// with a new, empty log.
    pub async fn create_store(&self) -> Result<Store> {
        ensure_sqlite_dir(&self.database_url)?;
        let existed = Store::open(&self.database_url).await;
        if let Ok(s) = &existed {
            s.close().await;
        }
        let anchor = AuditAnchor::new(&self.audit_anchor);
        if existed.is_err()
            && let Some(aside) = anchor.set_aside()?
        {
            eprintln!(
                "以前の登録簿の監査ログの先頭を {} に移しました",
                aside.display()
            );
        }
        Ok(Store::connect(&self.database_url)
            .await
            .with_context(|| format!("データベース {}", redact_url(&self.database_url)))?
            .with_audit_anchor(anchor))
    }

    /// The municipality to act on: the configured one, or the only one in the database.
    pub async fn tenant(&self, store: &Store) -> Result<MunicipalityCode> {
        if let Some(code) = self.municipality {
            return Ok(code);
        }
        let all = store.municipalities().await?;
        match all.as_slice() {
            [only] => Ok(only.code),
            [] => bail!(
                "団体が登録されていません: `sesshu init --municipality CODE --name NAME` を実行してください"
            ),
            _ => bail!("団体が複数登録されています: --municipality で指定してください"),
        }
    }

    /// The automatic logout, when the city set one: 10 seconds (for drills and tests) to a day.
    pub fn idle_seconds(&self) -> Result<Option<i64>> {
        self.idle_seconds
            .as_deref()
            .map(|s| {
                s.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (10..=86_400).contains(n))
                    .with_context(|| {
                        format!("idle_seconds '{s}' は 10〜86400 の秒数で指定してください")
                    })
            })
            .transpose()
    }

    pub fn listen_addr(&self, flag: Option<&str>) -> Result<SocketAddr> {
        let s = flag.unwrap_or(&self.listen);
        s.parse()
            .with_context(|| format!("待ち受けアドレス '{s}' (例: 127.0.0.1:8080)"))
    }
}

/// The default place of the audit chains' heads: beside the key file, which the database's
/// users cannot reach either.
pub fn audit_anchor_beside(key_file: &Path) -> PathBuf {
    key_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join("audit-heads"))
        .unwrap_or_else(|| PathBuf::from("audit-heads"))
}

/// SQLite creates the file but not its directory.
pub fn ensure_sqlite_dir(url: &str) -> Result<()> {
    if let Some(path) = sqlite_path(url)
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("ディレクトリ {} を作成できません", dir.display()))?;
    }
    Ok(())
}

pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// A URL for messages: the password never appears.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

pub fn write_config_file(path: &Path, config: &FileConfig) -> Result<()> {
    let text = toml::to_string_pretty(config)?;
    std::fs::write(
        path,
        format!("# sesshu configuration (sesshu init)\n{text}"),
    )
    .with_context(|| format!("設定ファイル {} を書けません", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_sqlite_paths_found() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://a/b.db"), "sqlite://a/b.db");
        assert_eq!(
            sqlite_path("sqlite://data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }
}
