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
}

pub async fn run(global: &GlobalArgs, command: KeysCommand) -> Result<ExitCode> {
    let KeysCommand::Rotate { batch, json } = command;
    let config = Config::resolve(global)?;
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
