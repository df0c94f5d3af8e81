use std::process::ExitCode;

use anyhow::{Result, bail};
use serde_json::json;
use sesshu_crypto::TenantCrypto;
use sesshu_store::Outcome;

use crate::cmd::audit::cli_event;
use crate::config::{Config, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Add a key version and re-seal every My Number under it, batch by batch, while the
    /// register stays in use; run again to resume an interrupted rotation
    Rotate {
        /// Rows per transaction
        #[arg(long, default_value_t = 500)]
        batch: u32,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Destroy an old key version once nothing is sealed under it any more (after `rotate`);
    /// only the key that verifies its past audit signatures stays in the key file
    Retire {
        /// The version to retire, e.g. 1
        #[arg(long)]
        version: u32,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Each key version and how many My Numbers and account keys are sealed under it
    Status {
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Create the certificate signing keyring if it is missing (init does this too)
    CertificateInit,
    /// Add a certificate signing key version: new certificates are signed with it, older ones
    /// keep verifying with theirs
    CertificateRotate,
}

pub async fn run(global: &GlobalArgs, command: KeysCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let (batch, json) = match command {
        KeysCommand::Rotate { batch, json } => (batch, json),
        KeysCommand::CertificateInit => {
            if !crate::cmd::init::ensure_certificate_keyring(&config)? {
                println!("証明書の署名鍵はすでにあります: 変更はありません");
            }
            return Ok(ExitCode::SUCCESS);
        }
        KeysCommand::CertificateRotate => return certificate_rotate(&config).await,
        KeysCommand::Retire { version, json } => return retire(&config, version, json).await,
        KeysCommand::Status { json } => return status(&config, json).await,
    };
    if std::env::var("SESSHU_KEY").is_ok() {
        bail!("SESSHU_KEY で鍵を渡しているときは鍵を追加できません。鍵ファイルで実行してください");
    }
    let mut keyring = config.keyring()?;
    let store = config.store().await?;
    let municipalities = store.municipalities().await?;

    // Resume when rows still wait on an older version; otherwise start a new rotation.
    let mut waiting = 0;
    for m in &municipalities {
        let crypto = TenantCrypto::derive(&keyring, m.code)?;
        waiting += store
            .rotate_my_numbers(m.code, &crypto, batch, Some(0))
            .await?
            .remaining;
    }
    let resumed = waiting > 0;
    if !resumed {
        keyring.add_generated();
        keyring.write_file(&config.key_file)?;
    }
    let version = keyring.current_version();
    let mut total = 0;
    let accounts = store.reseal_account_secrets(&keyring).await?;
    for m in &municipalities {
        let crypto = TenantCrypto::derive(&keyring, m.code)?;
        let r = store
            .rotate_my_numbers(m.code, &crypto, batch, None)
            .await?;
        total += r.resealed;
        if !json {
            println!(
                "{} {}: {} 件を鍵 v{version} で再暗号化しました",
                m.code, m.name, r.resealed
            );
        }
    }
    store
        .audit(
            None,
            cli_event(
                "keys.rotate",
                Outcome::Ok,
                vec![],
                vec![],
                json!({"version": version, "resealed": total, "accounts": accounts, "resumed": resumed}),
            ),
        )
        .await?;
    store.close().await;
    if json {
        println!(
            "{}",
            json!({"version": version, "resealed": total, "accounts": accounts, "resumed": resumed})
        );
    } else {
        println!(
            "アカウントの二要素認証の鍵 {accounts} 件を鍵 v{version} で再暗号化しました。\n\
             鍵のローテーションが完了しました (現行 v{version})。古い版は `sesshu keys retire --version N` で廃止できます。"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn certificate_rotate(config: &Config) -> Result<ExitCode> {
    if std::env::var("SESSHU_CERTIFICATE_KEY").is_ok() {
        bail!("SESSHU_CERTIFICATE_KEY で鍵を渡しているときは鍵を追加できません");
    }
    let mut keys = config.certificate_keyring()?;
    keys.add_generated();
    keys.write_file(&config.certificate_key_file())?;
    let store = config.store().await?;
    for m in store.municipalities().await? {
        let signer =
            sesshu_crypto::certificate::CertificateSigner::current(&keys, &m.code.as_string())?;
        store
            .register_certificate_key(m.code, signer.key_id(), &signer.public_key().to_text())
            .await?;
        store
            .audit(
                Some(m.code),
                cli_event(
                    "keys.certificate_rotate",
                    Outcome::Ok,
                    vec![],
                    vec![],
                    json!({"key_id": signer.key_id()}),
                ),
            )
            .await?;
        println!("{} {}: 新しい署名鍵 {}", m.code, m.name, signer.key_id());
    }
    Ok(ExitCode::SUCCESS)
}

/// What is still sealed under one key version, across every municipality.
#[derive(Debug, Default, serde::Serialize)]
struct Held {
    my_numbers: u64,
    account_keys: u64,
}

async fn held_under(store: &sesshu_store::Store, version: u32) -> Result<Held> {
    let mut held = Held {
        account_keys: store.account_secrets_under(version).await?,
        ..Held::default()
    };
    for m in store.municipalities().await? {
        held.my_numbers += store.sealed_under(m.code, version..version + 1).await?;
    }
    Ok(held)
}

/// One key version as `keys status` reports it.
#[derive(Debug, serde::Serialize)]
struct VersionStatus {
    version: u32,
    /// current, live (an older version still held) or retired
    state: &'static str,
    /// What is still sealed under it; none for a retired version (nothing can be).
    #[serde(flatten)]
    held: Option<Held>,
}

async fn status(config: &Config, json: bool) -> Result<ExitCode> {
    let keyring = config.keyring()?;
    let store = config.store().await?;
    let current = keyring.current_version();
    let mut versions: Vec<VersionStatus> = keyring
        .retired_versions()
        .map(|version| VersionStatus {
            version,
            state: "retired",
            held: None,
        })
        .collect();
    for version in keyring.versions() {
        versions.push(VersionStatus {
            version,
            state: if version == current {
                "current"
            } else {
                "live"
            },
            held: Some(held_under(&store, version).await?),
        });
    }
    store.close().await;
    versions.sort_by_key(|v| v.version);
    if json {
        println!("{}", json!({ "versions": versions }));
        return Ok(ExitCode::SUCCESS);
    }
    for v in &versions {
        match &v.held {
            None => println!("v{}  廃止済み (過去の署名の検証用の鍵のみ)", v.version),
            Some(held) => println!(
                "v{}  {}  マイナンバー {} 件、二要素認証の鍵 {} 件",
                v.version,
                if v.state == "current" {
                    "現行"
                } else {
                    "旧版"
                },
                held.my_numbers,
                held.account_keys
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn retire(config: &Config, version: u32, json: bool) -> Result<ExitCode> {
    if std::env::var("SESSHU_KEY").is_ok() {
        bail!("SESSHU_KEY で鍵を渡しているときは鍵を廃止できません。鍵ファイルで実行してください");
    }
    let mut keyring = config.keyring()?;
    let store = config.store().await?;
    // Checked on a copy first: nothing is written unless the version may go.
    if let Err(e) = keyring.clone().retire(version) {
        let reason = e.to_string();
        let detail = json!({"version": version, "reason": reason});
        return refuse_retire(&store, reason, detail, json).await;
    }
    let held = held_under(&store, version).await?;
    if held.my_numbers > 0 || held.account_keys > 0 {
        return refuse_retire(
            &store,
            format!(
                "鍵 v{version} で暗号化されたものが残っています (マイナンバー {} 件、二要素認証の鍵 {} 件): \
                 先に sesshu keys rotate を最後まで実行してください",
                held.my_numbers, held.account_keys
            ),
            json!({"version": version, "held": held}),
            json,
        )
        .await;
    }
    keyring.retire(version)?;
    keyring.write_file(&config.key_file)?;
    store
        .audit(
            None,
            cli_event(
                "keys.retire",
                Outcome::Ok,
                vec![],
                vec![],
                json!({"version": version}),
            ),
        )
        .await?;
    store.close().await;
    if json {
        println!("{}", json!({"retired": true, "version": version}));
    } else {
        println!(
            "鍵 v{version} を廃止しました。鍵ファイルには過去の監査署名を検証する鍵だけが残ります。\n\
             古い鍵ファイルのバックアップ (v{version} の鍵を含むもの) も破棄してください。"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn refuse_retire(
    store: &sesshu_store::Store,
    reason: String,
    detail: serde_json::Value,
    json: bool,
) -> Result<ExitCode> {
    store
        .audit(
            None,
            cli_event("keys.retire", Outcome::Refused, vec![], vec![], detail),
        )
        .await?;
    if json {
        println!("{}", json!({"retired": false, "reason": reason}));
    } else {
        eprintln!("{reason}");
    }
    Ok(ExitCode::from(2))
}
