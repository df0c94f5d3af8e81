//! `sesshu exemption`: 実費徴収の免除 (F7) — record a decision for a person and fiscal year,
//! revoke one with its reason, list a person's or a year's decisions (CSV on request).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::exemption::{ExemptionForm, ExemptionRow, exemptions_csv, this_fiscal_year};
use sesshu_app::{Actor, AppError};

use crate::config::{Config, GlobalArgs, RulesArg};

#[derive(Debug, clap::Subcommand)]
pub enum ExemptionCommand {
    /// Record a decision (免除 or 非該当) for a person and fiscal year
    Record {
        /// The person's 宛名番号
        #[arg(long)]
        person: String,
        /// 年度 (the year it starts in); default the current one
        #[arg(long)]
        fiscal_year: Option<i32>,
        /// Record 非該当 (applied; the grounds were not met) instead of 免除
        #[arg(long)]
        not_exempt: bool,
        /// 事由: welfare, tax_exempt, china_returnee or other (explain it in --notes)
        #[arg(long)]
        ground: String,
        /// The document or record seen (受給証明書, 課税台帳の確認 …)
        #[arg(long)]
        evidence: String,
        /// 申請日
        #[arg(long)]
        applied_on: String,
        /// 決定日; default today
        #[arg(long, default_value = "")]
        decided_on: String,
        /// 適用開始日; default the day applied (not before the year's first day)
        #[arg(long, default_value = "")]
        valid_from: String,
        /// 適用終了日; default the year's last day
        #[arg(long, default_value = "")]
        valid_to: String,
        /// 備考
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// Revoke a decision in force; it stays on record with the reason
    Revoke {
        /// The decision's number
        exemption_id: i64,
        /// Why (受給廃止, 誤登録 …)
        #[arg(long)]
        reason: String,
    },
    /// List a year's decisions (免除決定簿), or one person's over the years
    List {
        /// 年度; default the current one
        #[arg(long)]
        fiscal_year: Option<i32>,
        /// Only this person's decisions, every year
        #[arg(long)]
        person: Option<String>,
        /// Also write the list as CSV (UTF-8 with BOM) to this file
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

fn print(r: &ExemptionRow) {
    let d = &r.decision;
    println!(
        "{} {} {}年度 {} {} ({}) 申請 {} 決定 {} 適用 {} 〜 {}{}",
        d.exemption_id,
        d.address_number,
        d.fiscal_year,
        if d.exempt { "免除" } else { "非該当" },
        r.ground_label,
        d.evidence,
        d.applied_on,
        d.decided_on,
        d.valid_from,
        d.valid_to,
        d.revoked
            .as_ref()
            .map_or_else(String::new, |x| format!(" [取消: {}]", x.reason))
    );
}

pub async fn run(global: &GlobalArgs, command: ExemptionCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let me = Actor::operator(Some(tenant));
    let app = config.app(store.clone(), &RulesArg::default())?;
    let done: Result<(), AppError> = async {
        match command {
            ExemptionCommand::Record {
                person,
                fiscal_year,
                not_exempt,
                ground,
                evidence,
                applied_on,
                decided_on,
                valid_from,
                valid_to,
                notes,
            } => {
                let form = ExemptionForm {
                    fiscal_year: fiscal_year.unwrap_or_else(this_fiscal_year).to_string(),
                    decision: if not_exempt { "not_exempt" } else { "exempt" }.into(),
                    ground,
                    evidence,
                    applied_on,
                    decided_on,
                    valid_from,
                    valid_to,
                    notes,
                };
                let r = app.record_exemption(&me, tenant, &person, &form).await?;
                print(&r);
                println!("決定 {} を登録しました", r.decision.exemption_id);
            }
            ExemptionCommand::Revoke {
                exemption_id,
                reason,
            } => {
                let r = app
                    .revoke_exemption(&me, tenant, exemption_id, &reason)
                    .await?;
                print(&r);
                println!("決定 {exemption_id} を取り消しました (記録は残ります)");
            }
            ExemptionCommand::List {
                fiscal_year,
                person,
                csv,
            } => {
                let rows = match person {
                    Some(p) => app.exemptions_of_person(&me, tenant, &p).await?,
                    None => {
                        let year = fiscal_year.unwrap_or_else(this_fiscal_year);
                        app.exemptions_of_year(&me, tenant, year).await?
                    }
                };
                for r in &rows {
                    print(r);
                }
                println!("{} 件", rows.len());
                if let Some(path) = csv {
                    std::fs::write(&path, exemptions_csv(&rows)).map_err(|source| {
                        AppError::File {
                            path: path.display().to_string(),
                            source,
                        }
                    })?;
                    println!("{} に書きました", path.display());
                }
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    done?;
    Ok(ExitCode::SUCCESS)
}
