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
                json!({"version": version, "resealed": total, "resumed": resumed}),
            ),
        )
        .await?;
    store.close().await;
    if json {
        println!(
            "{}",
            json!({"version": version, "resealed": total, "resumed": resumed})
        );
    } else {
        println!(
            "鍵のローテーションが完了しました (現行 v{version})。古い鍵は履歴の復号に必要なため鍵ファイルに残します。"
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
