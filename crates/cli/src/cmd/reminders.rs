//! `sesshu reminders`: guardians' reminder mails — opt in and out at the counter, and the run
//! that sends what is due (a cron job, e.g. daily), with a dry run that lists who would get what.

use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::Actor;
use sesshu_app::mail::Mailer;
use sesshu_domain::parse_date;

use crate::config::{Config, GlobalArgs, RulesArg};

#[derive(Debug, clap::Subcommand)]
pub enum RemindersCommand {
    /// Record that a guardian asked for reminder mails at this address
    Subscribe {
        /// The guardian's 宛名番号
        address_number: String,
        /// Where the mails go
        email: String,
        /// How the guardian asked: 窓口, 電話, 申請書 or 電子申請
        #[arg(long, default_value = "窓口")]
        channel: String,
    },
    /// Record that a guardian asked to stop the mails
    Unsubscribe {
        /// The guardian's 宛名番号
        address_number: String,
        /// How the guardian asked: 窓口, 電話, 申請書 or 電子申請
        #[arg(long, default_value = "窓口")]
        channel: String,
    },
    /// Send the reminders due today through the `[mail]` relay (at most one a week per guardian)
    Send {
        /// List who would get what, send nothing
        #[arg(long)]
        dry_run: bool,
        /// The day the forecast is read on [default: today in Japan]
        #[arg(long)]
        as_of: Option<String>,
        #[command(flatten)]
        rules: RulesArg,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(global: &GlobalArgs, command: RemindersCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let me = Actor::operator(Some(tenant));
    let code = match command {
        RemindersCommand::Subscribe {
            address_number,
            email,
            channel,
        } => {
            let app = config.app(store.clone(), &RulesArg::default())?;
            let s = app
                .subscribe_reminders(&me, tenant, &address_number, &email, &channel)
                .await?;
            println!(
                "{} のお知らせメールを {} に登録しました ({})",
                s.address_number, s.email, s.opted_in_channel
            );
            ExitCode::SUCCESS
        }
        RemindersCommand::Unsubscribe {
            address_number,
            channel,
        } => {
            let app = config.app(store.clone(), &RulesArg::default())?;
            if app
                .unsubscribe_reminders(&me, tenant, &address_number, &channel)
                .await?
            {
                println!("{address_number} のお知らせメールを停止しました");
            } else {
                println!("{address_number} に配信中のお知らせメールはありません");
            }
            ExitCode::SUCCESS
        }
        RemindersCommand::Send {
            dry_run,
            as_of,
            rules,
            json,
        } => {
            let app = config.app(store.clone(), &rules)?;
            let as_of = match as_of {
                Some(d) => parse_date(&d)?,
                None => sesshu_app::today_in_japan(),
            };
            let mailer = match (&config.mail.smtp_host, dry_run) {
                (None, true) => None,
                _ => Some(Mailer::new(&config.mail)?),
            };
            let run = app
                .send_reminders(&me, tenant, as_of, mailer.as_ref(), dry_run)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&run)?);
            } else {
                for m in &run.mails {
                    let what: Vec<String> = m
                        .items
                        .iter()
                        .map(|i| format!("{} {} 第{}回", i.child, i.series, i.dose))
                        .collect();
                    let state = match (&m.held, &m.status) {
                        (Some(h), _) => h.clone(),
                        (None, Some(s)) if s == "sent" => "送信".to_owned(),
                        (None, Some(_)) => format!(
                            "失敗 ({}回): {}",
                            m.attempts,
                            m.error.as_deref().unwrap_or("")
                        ),
                        (None, None) => "送信予定".to_owned(),
                    };
                    println!("{} {} — {} [{state}]", m.guardian, m.email, what.join("、"));
                }
                println!(
                    "{}{} 件: 送信 {}、失敗 {}、今週送信済みのため保留 {}",
                    if run.dry_run { "(確認のみ) " } else { "" },
                    run.mails.len(),
                    run.sent,
                    run.failed,
                    run.held
                );
            }
            if run.failed > 0 {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
    };
    store.close().await;
    Ok(code)
}
