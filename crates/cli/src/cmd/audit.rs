use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;
use sesshu_store::{AuditEvent, Outcome, Store};

use crate::config::{Config, GlobalArgs};

/// Exit code of `audit verify` when the chain is broken.
pub const EXIT_BROKEN: u8 = 4;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check every hash chain of the audit log: exit 0 when intact, 4 naming the first broken entry
    Verify {
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
        /// Heads saved by an earlier run (--heads-out): each must still be in its chain unchanged
        #[arg(long)]
        heads: Option<PathBuf>,
        /// Write every chain's head (chain, seq, hash) here, to keep outside the database
        #[arg(long)]
        heads_out: Option<PathBuf>,
        /// Do not compare with the heads kept beside the key file (after restoring a backup,
        /// whose log is older than them by design)
        #[arg(long)]
        no_anchor: bool,
    },
    /// The retention job: remove entries older than the retention period (at least 5 years),
    /// leaving in each chain a summary entry signed with the deployment's key
    Retain {
        /// Keep this many years of entries (at least 5)
        #[arg(long, default_value_t = 5)]
        years: u32,
        /// The day the period is counted back from [default: today in Japan]
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Search the municipality's audit log and write the entries as CSV (UTF-8 with BOM)
    Export {
        /// Only this actor (e.g. cli:tanaka)
        #[arg(long)]
        actor: Option<String>,
        /// Only this function (e.g. person.read)
        #[arg(long)]
        function: Option<String>,
        /// Only entries that acted on or showed this person (宛名番号)
        #[arg(long)]
        person: Option<String>,
        /// From this day (2026-04-01, R8.4.1; or an RFC 3339 instant), Japan time
        #[arg(long)]
        from: Option<String>,
        /// To this day, included (or before an RFC 3339 instant)
        #[arg(long)]
        until: Option<String>,
        /// Write at most this many entries
        #[arg(long, default_value_t = 100_000)]
        limit: u32,
        /// Output file [default: standard output]
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The CLI's own audit entry: the operating-system user on this host.
pub fn cli_event(
    function: &str,
    outcome: Outcome,
    acted: Vec<String>,
    shown: Vec<String>,
    detail: serde_json::Value,
) -> AuditEvent {
    sesshu_app::Actor::operator(None).event(function, outcome, acted, shown, detail)
}

pub async fn run(global: &GlobalArgs, command: AuditCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    match command {
        AuditCommand::Verify {
            json,
            heads,
            heads_out,
            no_anchor,
        } => {
            let keyring = config.keyring().ok();
            verify(&store, keyring.as_ref(), json, heads, heads_out, no_anchor).await
        }
        AuditCommand::Retain { years, as_of } => {
            if years < 5 {
                anyhow::bail!("操作ログは5年以上保存します (--years は5以上)");
            }
            let keyring = config.keyring()?;
            let today = match as_of {
                Some(s) => sesshu_domain::parse_date(&s).context("--as-of")?,
                None => sesshu_web::today_in_japan(),
            };
            let cutoff = today
                .checked_sub_months(chrono::Months::new(years * 12))
                .context("--years")?
                .to_string();
            let mut chains: Vec<Option<sesshu_domain::MunicipalityCode>> = vec![None];
            chains.extend(
                store
                    .municipalities()
                    .await?
                    .into_iter()
                    .map(|m| Some(m.code)),
            );
            for tenant in chains {
                let removed = store
                    .retain_audit(
                        tenant,
                        &cutoff,
                        &keyring,
                        cli_event("audit.retention", Outcome::Ok, vec![], vec![], json!({})),
                    )
                    .await?;
                let name = tenant.map_or_else(|| "-".to_owned(), |t| t.to_string());
                match removed {
                    Some(n) => println!(
                        "{name}: {cutoff} より前の {n} 件を削除し、署名付きの記録を残しました"
                    ),
                    None => println!("{name}: {cutoff} より前の記録はありません"),
                }
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            actor,
            function,
            person,
            from,
            until,
            limit,
            out,
        } => {
            let tenant = config.tenant(&store).await?;
            let query = sesshu_app::audit::AuditSearch {
                actor,
                function,
                person,
                from,
                until,
                limit: Some(limit),
                ..Default::default()
            };
            // The export is itself an operation on personal data (who looked at whom): the
            // operation records it with its conditions.
            let entries = config
                .app(store.clone(), &crate::config::RulesArg::default())?
                .audit_entries(
                    &sesshu_app::Actor::operator(Some(tenant)),
                    tenant,
                    &query,
                    sesshu_app::audit::AuditUse::Export,
                )
                .await?
                .entries;
            let mut sink: Box<dyn Write> = match &out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("{} を作成できません", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            sink.write_all(sesshu_app::audit::audit_csv(&entries).as_bytes())?;
            sink.flush()?;
            if out.is_some() {
                eprintln!("{} 件を書き出しました", entries.len());
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn verify(
    store: &Store,
    keyring: Option<&sesshu_crypto::Keyring>,
    json_out: bool,
    heads: Option<PathBuf>,
    heads_out: Option<PathBuf>,
    no_anchor: bool,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut v = if no_anchor {
        store.verify_audit_ignoring_anchor(keyring).await?
    } else {
        store.verify_audit(keyring).await?
    };
    // Heads kept outside the database anchor the chains: a chain rewritten from the start, or
    // after its last checkpoint, no longer holds the entry that was kept.
    if let (None, Some(path)) = (&v.broken, &heads) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{} を読めません", path.display()))?;
        let saved: Vec<serde_json::Value> =
            serde_json::from_str(&text).context("先頭ハッシュのファイルが読めません")?;
        for h in saved {
            let (Some(code), Some(seq), Some(hash)) =
                (h["chain"].as_str(), h["seq"].as_i64(), h["hash"].as_str())
            else {
                anyhow::bail!("先頭ハッシュのファイルの形式が不正です");
            };
            if store.audit_entry_hash(code, seq).await?.as_deref() != Some(hash) {
                v.broken = Some(sesshu_store::AuditBreak {
                    municipality_code: code.to_owned(),
                    seq,
                    reason: "保管した先頭ハッシュと一致しません (記録の書き換え・削除)".into(),
                });
                break;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // An intact log gets a signed checkpoint per chain: a later rewrite up to here is found even
    // if every hash is recomputed.
    let checkpoints = match (keyring, &v.broken) {
        (Some(k), None) => {
            store
                .checkpoint_audit(
                    k,
                    cli_event("audit.checkpoint", Outcome::Ok, vec![], vec![], json!({})),
                )
                .await?
        }
        _ => 0,
    };
    if let (None, Some(path)) = (&v.broken, &heads_out) {
        let out: Vec<serde_json::Value> = store
            .audit_heads_now()
            .await?
            .into_iter()
            .map(|(chain, seq, hash)| json!({"chain": chain, "seq": seq, "hash": hash}))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("{} を書けません", path.display()))?;
    }
    store
        .audit(
            None,
            cli_event(
                "audit.verify",
                if v.broken.is_none() {
                    Outcome::Ok
                } else {
                    Outcome::Failed
                },
                vec![],
                vec![],
                json!({"entries": v.entries, "broken": v.broken, "checkpoints": checkpoints,
                       "anchored": v.anchored}),
            ),
        )
        .await?;
    store.close().await;
    if json_out {
        println!(
            "{}",
            json!({"intact": v.broken.is_none(), "entries": v.entries, "chains": v.chains,
                   "anchored": v.anchored, "broken": v.broken, "seconds": seconds})
        );
    } else if let Some(b) = &v.broken {
        println!(
            "監査ログが改ざんされています: 団体 {} 連番 {}: {}",
            b.municipality_code, b.seq, b.reason
        );
    } else {
        println!(
            "監査ログは完全です ({} 件, {} 系列, {:.1} 秒)",
            v.entries, v.chains, seconds
        );
        match (v.anchored, store.audit_anchor()) {
            (Some(n), Some(a)) => println!(
                "データベースの外に保管した先頭 ({n} 系列, {}) とも一致しました",
                a.dir().display()
            ),
            _ => println!(
                "注意: 先頭の保管場所と照合していません (--no-anchor): 末尾の削除は確かめていません"
            ),
        }
    }
    Ok(if v.broken.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BROKEN)
    })
}
