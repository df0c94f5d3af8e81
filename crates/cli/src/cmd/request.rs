//! `sesshu request`: the register of 開示・訂正・利用停止 requests (F13) — receive one, extend its
//! deadline, answer it, list the register, and print a disclosure request's report as PDF.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::requests::{RequestForm, RequestRow};
use sesshu_app::{Actor, AppError};

use crate::config::{Config, GlobalArgs, RulesArg};

#[derive(Debug, clap::Subcommand)]
pub enum RequestCommand {
    /// Record a request received (due 30 days later)
    Receive {
        /// The person's 宛名番号
        #[arg(long)]
        person: String,
        /// disclosure (開示), correction (訂正) or suspension (利用停止)
        #[arg(long)]
        kind: String,
        /// self (本人), legal (法定代理人) or agent (任意代理人)
        #[arg(long, default_value = "self")]
        requester: String,
        /// The documents that confirmed the requester's identity (and authority)
        #[arg(long)]
        identity: String,
        /// What was asked
        #[arg(long)]
        details: String,
        /// 受付日; default today
        #[arg(long, default_value = "")]
        received_on: String,
    },
    /// Extend an open request's deadline once, by at most 30 days
    Extend {
        /// The request's number
        request_id: i64,
        /// The new deadline
        #[arg(long)]
        to: String,
        /// Why
        #[arg(long)]
        reason: String,
    },
    /// Record the answer (full, partial, refused; corrected, not_corrected; stopped,
    /// not_stopped) or withdrawn
    Answer {
        /// The request's number
        request_id: i64,
        /// The outcome's code
        #[arg(long)]
        outcome: String,
        /// What was answered, and why when not in full
        #[arg(long)]
        answer: String,
        /// 回答日; default today
        #[arg(long, default_value = "")]
        answered_on: String,
    },
    /// The register: open requests by deadline (overdue marked); --all adds the closed ones
    List {
        /// Closed requests too
        #[arg(long)]
        all: bool,
    },
    /// Print a disclosure request's report (everything held about the person) as PDF
    Disclose {
        /// The request's number
        request_id: i64,
        /// Where to write the PDF
        #[arg(long)]
        out: PathBuf,
    },
}

fn print(r: &RequestRow) {
    let q = &r.request;
    println!(
        "{} {} {} 受付 {} ({} / {}) 期限 {}{} — {}{}",
        q.request_id,
        q.address_number,
        r.kind_label,
        q.received_on,
        r.requester_label,
        q.identity_checked,
        q.deadline(),
        if r.overdue { " [期限超過]" } else { "" },
        q.details,
        if q.is_open() {
            String::new()
        } else {
            format!(
                " [{}: {}]",
                r.outcome_label.as_deref().unwrap_or("取下げ"),
                q.answer.as_deref().unwrap_or_default()
            )
        }
    );
}

pub async fn run(global: &GlobalArgs, command: RequestCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let me = Actor::operator(Some(tenant));
    let app = config.app(store.clone(), &RulesArg::default())?;
    let done: Result<(), AppError> = async {
        match command {
            RequestCommand::Receive {
                person,
                kind,
                requester,
                identity,
                details,
                received_on,
            } => {
                let form = RequestForm {
                    kind,
                    received_on,
                    requester,
                    identity_checked: identity,
                    details,
                };
                let r = app.receive_request(&me, tenant, &person, &form).await?;
                print(&r);
                println!(
                    "請求 {} を受け付けました (回答期限 {})",
                    r.request.request_id, r.request.due_on
                );
            }
            RequestCommand::Extend {
                request_id,
                to,
                reason,
            } => {
                let r = app
                    .extend_request(&me, tenant, request_id, &to, &reason)
                    .await?;
                print(&r);
            }
            RequestCommand::Answer {
                request_id,
                outcome,
                answer,
                answered_on,
            } => {
                let r = app
                    .answer_request(&me, tenant, request_id, &outcome, &answer, &answered_on)
                    .await?;
                print(&r);
            }
            RequestCommand::List { all } => {
                let rows = app.request_register(&me, tenant, all).await?;
                for r in &rows {
                    print(r);
                }
                let overdue = rows.iter().filter(|r| r.overdue).count();
                println!("{} 件 (期限超過 {overdue} 件)", rows.len());
            }
            RequestCommand::Disclose { request_id, out } => {
                let pdf = app.disclosure_report(&me, tenant, request_id).await?;
                std::fs::write(&out, &pdf).map_err(|source| AppError::File {
                    path: out.display().to_string(),
                    source,
                })?;
                println!("{} に書きました ({} バイト)", out.display(), pdf.len());
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    done?;
    Ok(ExitCode::SUCCESS)
}
