//! `sesshu retention`: 保存期間 (P10) — list who is past the retention period after death or
//! move-out as a plan, approve it (another operator), carry it out with a signed certificate,
//! cancel it, and check a certificate.

use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::retention::{DEFAULT_YEARS, PurgePlan};
use sesshu_app::{Actor, AppError};
use sesshu_store::{PurgeRun, purge_status_label};

use crate::config::{Config, GlobalArgs, RulesArg};

#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// List the persons past the period as a plan waiting for approval (nothing is deleted)
    Plan {
        /// Years kept after death or move-out [default: `[retention] years_after_end`, else 5;
        /// never fewer than 5]
        #[arg(long)]
        years: Option<u32>,
    },
    /// A plan with the persons it names and those kept past the period, by why
    Show {
        /// The plan's number
        run_id: i64,
    },
    /// Approve a plan (an operator other than the one who planned it)
    Approve {
        /// The plan's number
        run_id: i64,
    },
    /// Carry out an approved plan: delete, and write the signed certificate
    Execute {
        /// The plan's number
        run_id: i64,
    },
    /// Cancel a plan not yet carried out
    Cancel {
        /// The plan's number
        run_id: i64,
    },
    /// Every plan, newest first
    Runs,
    /// Print a done plan's certificate and check its signature (exit 3 if it fails)
    Verify {
        /// The plan's number
        run_id: i64,
    },
}

fn print_run(r: &PurgeRun) {
    println!(
        "削除計画 {}\t{}\t保存 {} 年 (異動日 {} 以前)\t{} 人\t計画 {} {}{}{}",
        r.run_id,
        purge_status_label(&r.status),
        r.years_after_end,
        r.cutoff,
        r.person_count,
        r.planned_by,
        r.planned_at,
        r.approved_by
            .as_ref()
            .map_or_else(String::new, |b| format!("\t承認 {b}")),
        r.done_by
            .as_ref()
            .map_or_else(String::new, |b| format!("\t実行 {b}")),
    );
}

fn print_plan(p: &PurgePlan) {
    print_run(&p.run);
    for l in &p.persons {
        println!(
            "{}\t{}\t{}\t{} {}",
            l.address_number, l.name, l.birth_date, l.reason, l.ended_on
        );
    }
    for (why, n) in &p.kept {
        println!("保存を続ける: {why} {n} 人");
    }
}

pub async fn run(global: &GlobalArgs, command: RetentionCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let me = Actor::operator(Some(tenant));
    let app = config.app(store.clone(), &RulesArg::default())?;
    let years = config.retention.years_after_end.unwrap_or(DEFAULT_YEARS);
    let done: Result<ExitCode, AppError> = async {
        match command {
            RetentionCommand::Plan { years: asked } => {
                let plan = app
                    .plan_purge(&me, tenant, asked.unwrap_or(years))
                    .await?;
                print_plan(&plan);
                println!(
                    "削除計画 {} を作りました。別の担当者が sesshu retention approve {} で承認してから実行します",
                    plan.run.run_id, plan.run.run_id
                );
            }
            RetentionCommand::Show { run_id } => {
                print_plan(&app.purge_plan(&me, tenant, run_id).await?);
            }
            RetentionCommand::Approve { run_id } => {
                print_run(&app.approve_purge(&me, tenant, run_id).await?);
            }
            RetentionCommand::Execute { run_id } => {
                let r = app.execute_purge(&me, tenant, run_id).await?;
                print_run(&r);
                if let Some(c) = &r.certificate {
                    println!("{c}");
                }
            }
            RetentionCommand::Cancel { run_id } => {
                print_run(&app.cancel_purge(&me, tenant, run_id).await?);
            }
            RetentionCommand::Runs => {
                for r in app.purge_runs(&me, tenant).await? {
                    print_run(&r);
                }
            }
            RetentionCommand::Verify { run_id } => {
                let (r, valid) = app.verify_purge(&me, tenant, run_id).await?;
                print_run(&r);
                if let Some(c) = &r.certificate {
                    println!("{c}");
                }
                if !valid {
                    println!("署名を確かめられません: 証明書が書き換えられたか、鍵が違います");
                    return Ok(ExitCode::from(3));
                }
                println!("署名は正しい");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
    .await;
    store.close().await;
    Ok(done?)
}
