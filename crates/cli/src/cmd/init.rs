use std::process::ExitCode;

use anyhow::{Context, Result};
use sesshu_crypto::Keyring;
use sesshu_domain::MunicipalityCode;
use sesshu_store::{Outcome, StoreError};

use crate::cmd::audit::cli_event;
use crate::config::{Config, FileConfig, GlobalArgs, redact_url, write_config_file};

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Municipality name, e.g. 町田市
    #[arg(long)]
    name: String,
}

pub async fn run(global: &GlobalArgs, args: InitArgs) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let code: MunicipalityCode = config
        .municipality
        .context("--municipality CODE を指定してください (例: --municipality 132098)")?;
    let key_created = ensure_keyring(&config)?;
    ensure_certificate_keyring(&config)?;
    let store = config.create_store().await?;
    if key_created {
        store
            .audit(
                None,
                cli_event(
                    "keys.create",
                    Outcome::Ok,
                    vec![],
                    vec![],
                    serde_json::json!({"key_file": config.key_file.display().to_string()}),
                ),
            )
            .await?;
    }
    match store.create_municipality(code, &args.name).await {
        Ok(m) => {
            store
                .audit(
                    None,
                    cli_event(
                        "municipality.create",
                        Outcome::Ok,
                        vec![],
                        vec![],
                        serde_json::json!({"municipality": m.code.to_string(), "name": m.name}),
                    ),
                )
                .await?;
            println!("団体 {} {} を登録しました", m.code, m.name)
        }
        Err(StoreError::MunicipalityExists(_)) => {
            let existing = store
                .municipality(code)
                .await?
                .map(|m| m.name)
                .unwrap_or_default();
            println!("団体 {code} ({existing}) は既に登録されています: 変更はありません");
        }
        Err(e) => return Err(e.into()),
    }
    println!("データベース: {}", redact_url(&config.database_url));
    if !config.config_file_found {
        let file = FileConfig {
            database_url: Some(config.database_url.clone()),
            key_file: Some(config.key_file.clone()),
            municipality: Some(code.to_string()),
            ..FileConfig::default()
        };
        write_config_file(&config.config_path, &file)?;
        println!("設定ファイル: {}", config.config_path.display());
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Creates the key file unless a key already exists (a second municipality shares the keyring;
/// per-tenant keys are derived from it). `true` when it created one.
fn ensure_keyring(config: &Config) -> Result<bool> {
    if std::env::var("SESSHU_KEY").is_ok() {
        config.keyring()?;
        println!("鍵: 環境変数 SESSHU_KEY を使います");
        return Ok(false);
    }
    if config.key_file.exists() {
        config.keyring()?;
        println!("鍵ファイル: {} (既存)", config.key_file.display());
        return Ok(false);
    }
    Keyring::generate().create_file(&config.key_file)?;
    println!(
        "鍵ファイル: {} を作成しました (mode 0600)。データベースとは別に保管し、バックアップしてください",
        config.key_file.display()
    );
    Ok(true)
}

/// Creates the certificate signing keyring when missing: separate from the data key, so that
/// whoever can decrypt the register cannot forge a certificate, and either can be rotated alone.
pub fn ensure_certificate_keyring(config: &Config) -> Result<bool> {
    if std::env::var("SESSHU_CERTIFICATE_KEY").is_ok() {
        config.certificate_keyring()?;
        return Ok(false);
    }
    let path = config.certificate_key_file();
    if path.exists() {
        config.certificate_keyring()?;
        return Ok(false);
    }
    Keyring::generate().create_file(&path)?;
    println!(
        "証明書の署名鍵: {} を作成しました (mode 0600)。データの鍵とは別に保管してください",
        path.display()
    );
    Ok(true)
}
