use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sesshu_app::doses::{DoseChange, Written};
use sesshu_app::{Actor, AppError};
use sesshu_domain::dose::{BillingMonth, parse_amount_ml, parse_institution_code};
use sesshu_domain::{AntibodyResult, Dose, DoseJudgement, parse_date};
use sesshu_schedule::Engine;
use sesshu_store::{DoseRow, Judged};

use crate::config::RulesArg;
use crate::config::{Config, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum DoseCommand {
    /// Record one dose by hand (a certificate a mover brings, a clinic's call)
    Add {
        /// The person's 宛名番号 (address number)
        address_number: String,
        #[command(flatten)]
        fields: Box<DoseFields>,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rules: RulesArg,
    },
    /// Correct a recorded dose; the previous version is kept with who, when and why
    Correct {
        /// The dose's ID as `sesshu person show` prints it
        dose_id: i64,
        /// Why the record is corrected (kept with the old version)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        fields: Box<DoseFields>,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rules: RulesArg,
    },
    /// Delete a recorded dose; it stays readable with its versions
    Delete {
        /// The dose's ID as `sesshu person show` prints it
        dose_id: i64,
        /// Why (kept with the change and in the audit log)
        #[arg(long)]
        reason: String,
    },
    /// Every version of a dose
    History {
        /// The dose's ID as `sesshu person show` prints it
        dose_id: i64,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

/// The fields of a dose; on `correct`, the ones given replace the recorded ones.
#[derive(Debug, clap::Args)]
pub struct DoseFields {
    /// Product code (formats.md §2: hib, pcv20, mr, je, hpv9, …)
    #[arg(long)]
    vaccine: Option<String>,
    /// Ordinal as on the form (JE 1–4, MR 1–2, DPT 1–4, antibody test 0)
    #[arg(long)]
    dose: Option<u32>,
    /// The day of the dose (2026-12-07, R8.12.7 or 令和8年12月7日)
    #[arg(long)]
    date: Option<String>,
    /// 10-digit medical institution code
    #[arg(long)]
    institution: Option<String>,
    /// The clinic (医療機関) where it was given
    #[arg(long)]
    institution_name: Option<String>,
    /// The doctor who gave it (医師名)
    #[arg(long)]
    doctor: Option<String>,
    /// The lot number (ロット番号)
    #[arg(long)]
    lot: Option<String>,
    /// The manufacturer (製造販売業者)
    #[arg(long)]
    manufacturer: Option<String>,
    /// mL
    #[arg(long)]
    amount: Option<String>,
    /// YYYYMM or R0704
    #[arg(long)]
    billing_month: Option<String>,
    /// The public subsidy paid for it, in yen
    #[arg(long)]
    subsidy_yen: Option<i64>,
    /// The number of the ticket (接種券) used
    #[arg(long)]
    ticket: Option<String>,
    /// Free notes (never a My Number)
    #[arg(long)]
    notes: Option<String>,
    /// Given before moving in / by another municipality
    #[arg(long)]
    elsewhere: bool,
    /// Deferred at the screening (見合わせ): recorded, never counted
    #[arg(long)]
    deferred: bool,
    /// Antibody test result: low or sufficient
    #[arg(long)]
    result: Option<String>,
}

impl DoseFields {
    /// Applies the given fields onto `base` (or builds a new dose when `base` is `None`).
    fn apply(&self, base: Option<Dose>, engine: &Engine) -> Result<Dose> {
        let fresh = base.is_none();
        let mut d = match base {
            Some(d) => d,
            None => Dose::given(
                self.vaccine.clone().context("--vaccine が必要です")?,
                self.dose.context("--dose が必要です")?,
                parse_date(self.date.as_deref().context("--date が必要です")?).context("--date")?,
            ),
        };
        if let Some(v) = &self.vaccine {
            d.product = v.trim().to_ascii_lowercase();
        }
        if engine.rules().product(&d.product).is_none() {
            bail!("不明なワクチンコード「{}」", d.product);
        }
        if let Some(n) = self.dose {
            d.ordinal = n;
        }
        if let Some(s) = &self.date {
            d.given_on = parse_date(s).context("--date")?;
        }
        if let Some(s) = &self.institution {
            d.institution_code = Some(parse_institution_code(s).context("--institution")?);
        }
        let text = |v: &Option<String>, old: &mut Option<String>| {
            if let Some(v) = v {
                *old = Some(v.clone()).filter(|s| !s.trim().is_empty());
            }
        };
        text(&self.institution_name, &mut d.institution_name);
        text(&self.doctor, &mut d.doctor);
        text(&self.lot, &mut d.lot);
        text(&self.manufacturer, &mut d.manufacturer);
        text(&self.ticket, &mut d.ticket_number);
        text(&self.notes, &mut d.notes);
        if let Some(a) = &self.amount {
            d.amount_ml = Some(parse_amount_ml(a).context("--amount")?);
        }
        if let Some(b) = &self.billing_month {
            d.billing_month = Some(BillingMonth::parse(b).context("--billing-month")?);
        }
        if self.subsidy_yen.is_some() {
            d.subsidy_yen = self.subsidy_yen;
        }
        if let Some(r) = &self.result {
            d.antibody_result = Some(AntibodyResult::parse(r).context("--result")?);
        }
        if self.elsewhere {
            d.given_elsewhere = true;
        }
        if self.deferred {
            d.judgement = DoseJudgement::Deferred;
        } else if fresh {
            d.judgement = DoseJudgement::Given;
        }
        if d.given_on > sesshu_web::today_in_japan() {
            bail!("接種日が未来の日付です: {}", d.given_on);
        }
        Ok(d)
    }
}

pub async fn run(global: &GlobalArgs, command: DoseCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let me = Actor::operator(Some(tenant));
    let rules = match &command {
        DoseCommand::Add { rules, .. } | DoseCommand::Correct { rules, .. } => rules,
        _ => &RulesArg::default(),
    };
    let app = config.app(store.clone(), rules)?;
    // The command line records a dose that breaks a rule as 要確認 (its report says so).
    let recorded = |w: Written| match w {
        Written::Recorded {
            dose_id,
            version,
            judged,
        } => Ok((dose_id, version, judged)),
        Written::NeedsConfirmation(why) => Err(anyhow::anyhow!(
            "記録していません: {}",
            why.unwrap_or_default()
        )),
    };
    match command {
        DoseCommand::Add {
            address_number,
            fields,
            json,
            ..
        } => {
            let dose = fields.apply(None, &app.engine)?;
            let w = app
                .add_dose(
                    &me,
                    tenant,
                    &address_number,
                    DoseChange {
                        dose,
                        confirmed: true,
                    },
                )
                .await?;
            let (id, version, judged) = recorded(w)?;
            report(json, id, version, &judged);
        }
        DoseCommand::Correct {
            dose_id,
            reason,
            fields,
            json,
            ..
        } => {
            let engine = app.engine.clone();
            let w = app
                .correct_dose(&me, tenant, dose_id, &reason, |current| {
                    fields
                        .apply(Some(current), &engine)
                        .map(|dose| DoseChange {
                            dose,
                            confirmed: true,
                        })
                        .map_err(|e| AppError::Invalid(format!("{e:#}")))
                })
                .await?;
            let (id, version, judged) = recorded(w)?;
            report(json, id, version, &judged);
        }
        DoseCommand::Delete { dose_id, reason } => {
            let row = app.delete_dose(&me, tenant, dose_id, &reason).await?;
            println!("接種記録 {dose_id} を削除しました (版 {})。", row.version);
        }
        DoseCommand::History { dose_id, json } => {
            let (current, versions) = app.dose(&me, tenant, dose_id).await?;
            if json {
                let rows: Vec<_> = versions
                    .iter()
                    .map(|v| version_json(&v.row, Some(&v.superseded_at)))
                    .chain(std::iter::once(version_json(&current, None)))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for v in &versions {
                    print_version(&v.row, Some(&v.superseded_at));
                }
                print_version(&current, None);
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn report(json: bool, id: i64, version: i64, j: &Judged) {
    if json {
        println!(
            "{}",
            json!({"dose_id": id, "version": version, "routine": j.routine,
                   "evaluation": j.evaluation, "stage": j.stage})
        );
    } else {
        let mark = match j.routine {
            Some(true) => "定期接種",
            Some(false) => "要確認 (定期接種の規則に合いません)",
            None => "数えない記録",
        };
        println!(
            "接種記録 {id} (版 {version}) を記録しました: {mark} — {}",
            j.evaluation.as_deref().unwrap_or("")
        );
    }
}

fn version_json(r: &DoseRow, superseded_at: Option<&String>) -> serde_json::Value {
    json!({
        "version": r.version,
        "product": r.dose.product,
        "ordinal": r.dose.ordinal,
        "given_on": r.dose.given_on.to_string(),
        "judgement": r.dose.judgement.as_str(),
        "lot": r.dose.lot,
        "institution_code": r.dose.institution_code,
        "deleted": r.deleted,
        "recorded_at": r.recorded_at,
        "recorded_by": r.recorded_by,
        "change_reason": r.change_reason,
        "superseded_at": superseded_at,
    })
}

fn print_version(r: &DoseRow, superseded_at: Option<&String>) {
    println!(
        "版{} {} {}回 {} lot={} {}{} 記録 {} {}{}",
        r.version,
        r.dose.product,
        r.dose.ordinal,
        r.dose.given_on,
        r.dose.lot.as_deref().unwrap_or("-"),
        if r.deleted { "[削除] " } else { "" },
        r.change_reason
            .as_deref()
            .map(|c| format!("理由: {c} "))
            .unwrap_or_default(),
        r.recorded_at,
        r.recorded_by,
        superseded_at
            .map(|s| format!(" (置換 {s})"))
            .unwrap_or_default(),
    );
}
