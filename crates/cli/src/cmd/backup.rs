//! `sesshu backup DIR` and `sesshu restore DIR`: the whole register (SQLite: its file and its
//! audit file; PostgreSQL: one `pg_dump` snapshot) with a manifest of what it holds. The key
//! file is never in a backup: keep it, and its copy, elsewhere.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use sesshu_store::backup::{Held, restore};
use sesshu_store::{AuditAnchor, Outcome, Store};

use crate::cmd::audit::cli_event;
use crate::config::{Config, GlobalArgs, ensure_sqlite_dir};

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// A new (or empty) directory for the copy and its manifest
    dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A directory written by `sesshu backup`
    dir: PathBuf,
    /// Replace a register that is there (a SQLite file is set aside, never deleted)
    #[arg(long)]
    force: bool,
}

fn print_held(held: &[Held]) {
    for h in held {
        println!(
            "  {}: 宛名 {} 人, 接種 {} 件, 操作ログ {} 件 (末尾 {})",
            h.municipality_code, h.persons, h.doses, h.audit_entries, h.audit_head
        );
    }
}

pub async fn backup(global: &GlobalArgs, args: BackupArgs) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let done = store.backup(&config.database_url, &args.dir).await;
    let (outcome, detail) = match &done {
        Ok(m) => (
            Outcome::Ok,
            json!({"dir": args.dir.display().to_string(), "files": m.files, "held": m.held}),
        ),
        Err(e) => (
            Outcome::Failed,
            json!({"dir": args.dir.display().to_string(), "error": e.to_string()}),
        ),
    };
    store
        .audit(
            None,
            cli_event("backup.run", outcome, vec![], vec![], detail),
        )
        .await?;
    store.close().await;
    let manifest = done?;
    println!(
        "{} にバックアップしました ({}, {})",
        args.dir.display(),
        manifest.backend,
        manifest.taken_at
    );
    print_held(&manifest.held);
    println!("鍵ファイルは含みません。別の場所に保管してください。");
    Ok(ExitCode::SUCCESS)
}

pub async fn restore_cmd(global: &GlobalArgs, args: RestoreArgs) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    ensure_sqlite_dir(&config.database_url)?;
    let keyring = config.keyring().ok();
    let restored = restore(
        &args.dir,
        &config.database_url,
        keyring.as_ref(),
        args.force,
    )
    .await?;
    // The heads kept beside the key file are ahead of the restored log by design: set them
    // aside (kept, they show how far the lost log had reached); the next append starts anew.
    let anchor = AuditAnchor::new(&config.audit_anchor);
    let heads_aside = anchor.set_aside()?;
    let store = Store::open(&config.database_url)
        .await?
        .with_audit_anchor(anchor);
    store
        .audit(
            None,
            cli_event(
                "backup.restore",
                Outcome::Ok,
                vec![],
                vec![],
                json!({"dir": args.dir.display().to_string(), "taken_at": restored.manifest.taken_at,
                       "files": restored.manifest.files, "held": restored.manifest.held,
                       "set_aside": restored.set_aside, "heads_set_aside": heads_aside}),
            ),
        )
        .await?;
    store.close().await;
    println!(
        "{} ({}) を復元しました: 操作ログ {} 件を検証、件数は目録と一致",
        args.dir.display(),
        restored.manifest.taken_at,
        restored.entries
    );
    print_held(&restored.manifest.held);
    for p in &restored.set_aside {
        println!("元の登録簿を {} に移しました", p.display());
    }
    if let Some(p) = heads_aside {
        println!(
            "監査ログの先頭の記録を {} に移しました (復元前のログがどこまで進んでいたかを示します)",
            p.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
