//! `sesshu`: the register's command line. `anyhow` lives only here, at the binary's edge.

mod cmd;
mod config;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::GlobalArgs;

#[derive(Debug, Parser)]
#[command(
    name = "sesshu",
    version,
    about = "予防接種台帳 — an immunization register for Japanese municipalities"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database, the municipality and the key file
    Init(cmd::init::InitArgs),
    /// Import a file
    #[command(subcommand)]
    Import(cmd::import::ImportCommand),
    /// Look at persons
    #[command(subcommand)]
    Person(cmd::person::PersonCommand),
    /// The audit log: verify its hash chains, export entries for the auditor
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// Accounts and their grants
    #[command(subcommand)]
    User(cmd::user::UserCommand),
    /// The periodic access review: every account, its grants, last login, dormant or expiring
    AccessReview(cmd::user::AccessReviewArgs),
    /// API tokens for machine clients
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// Key operations: rotate the My Number key
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Record, correct or delete one dose by hand; every version is kept
    #[command(subcommand)]
    Dose(cmd::dose::DoseCommand),
    /// The routine-immunization rules: evaluate a history, print the rules
    #[command(subcommand)]
    Schedule(cmd::schedule::ScheduleCommand),
    /// 対象者抽出 and 勧奨: extract, plan, approve and issue notices, tickets and screening forms
    #[command(subcommand)]
    Notices(cmd::notices::NoticesCommand),
    /// Aggregate tables (the annual report of routine doses), never a person
    #[command(subcommand)]
    Statistics(cmd::statistics::StatisticsCommand),
    /// Ad-hoc extraction (EUC): doses by conditions into a CSV, never with the My Number
    Extract(cmd::extract::ExtractArgs),
    /// Clinic payments (委託料): prices, accounts, a month's run, approval, the bank's file, claims
    #[command(subcommand)]
    Payments(cmd::payments::PaymentsCommand),
    /// 実費徴収の免除: decisions per person and fiscal year for B類 self-payments
    #[command(subcommand)]
    Exemption(cmd::exemption::ExemptionCommand),
    /// 保存期間: delete persons past the retention period after death or move-out (plan,
    /// approve, execute with a signed certificate)
    #[command(subcommand)]
    Retention(cmd::retention::RetentionCommand),
    /// 健康被害救済: relief cases from the application to the payment, and their letters
    #[command(subcommand)]
    Relief(cmd::relief::ReliefCommand),
    /// 開示・訂正・利用停止の請求: the register, answers, and a disclosure's report as PDF
    #[command(subcommand)]
    Request(cmd::request::RequestCommand),
    /// Reminder mails to guardians who asked: opt in and out, send what is due (or a dry run)
    #[command(subcommand)]
    Reminders(cmd::reminders::RemindersCommand),
    /// 予防接種済証 / 証明書: issue a signed certificate, verify one
    #[command(subcommand)]
    Certificate(cmd::certificate::CertificateCommand),
    /// Synthetic data for demos, tests and benchmarks
    #[command(subcommand)]
    Demo(cmd::demo::DemoCommand),
    /// Serve the API (and, with --demo, a fresh synthetic town)
    Serve(cmd::serve::ServeArgs),
    /// The privacy assessment's figures from live data; exit 3 when one left its declared band
    Assessment(cmd::assessment::AssessmentArgs),
    /// Copy the whole register (and its audit log) with a manifest; never the key file
    Backup(cmd::backup::BackupArgs),
    /// Restore a backup: files checked, audit chains verified, counts compared, then put in place
    Restore(cmd::backup::RestoreArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("エラー: 非同期ランタイムを起動できません: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(args) => cmd::init::run(&cli.global, args).await,
            Command::Import(c) => cmd::import::run(&cli.global, c).await,
            Command::Person(c) => cmd::person::run(&cli.global, c).await,
            Command::Audit(c) => cmd::audit::run(&cli.global, c).await,
            Command::User(c) => cmd::user::run(&cli.global, c).await,
            Command::AccessReview(a) => cmd::user::access_review(&cli.global, a).await,
            Command::Token(c) => cmd::token::run(&cli.global, c).await,
            Command::Reminders(c) => cmd::reminders::run(&cli.global, c).await,
            Command::Payments(c) => cmd::payments::run(&cli.global, c).await,
            Command::Exemption(c) => cmd::exemption::run(&cli.global, c).await,
            Command::Relief(c) => cmd::relief::run(&cli.global, c).await,
            Command::Retention(c) => cmd::retention::run(&cli.global, c).await,
            Command::Request(c) => cmd::request::run(&cli.global, c).await,
            Command::Extract(a) => cmd::extract::run(&cli.global, a).await,
            Command::Statistics(c) => cmd::statistics::run(&cli.global, c).await,
            Command::Keys(c) => cmd::keys::run(&cli.global, c).await,
            Command::Dose(c) => cmd::dose::run(&cli.global, c).await,
            Command::Schedule(c) => cmd::schedule::run(&cli.global, c).await,
            Command::Notices(c) => cmd::notices::run(&cli.global, c).await,
            Command::Certificate(c) => cmd::certificate::run(&cli.global, c).await,
            Command::Demo(c) => cmd::demo::run(c).await,
            Command::Assessment(a) => cmd::assessment::run(&cli.global, a).await,
            Command::Backup(a) => cmd::backup::backup(&cli.global, a).await,
            Command::Restore(a) => cmd::backup::restore_cmd(&cli.global, a).await,
            Command::Serve(args) => cmd::serve::run(&cli.global, args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("エラー: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `SESSHU_LOG` filters (default `info`), `SESSHU_LOG_FORMAT=json` structures.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("SESSHU_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only where a person reads them, not in a log file or journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("SESSHU_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and every option says what it does in `--help`: an operator at the
    /// terminal has nothing else to go by.
    #[test]
    fn every_command_and_option_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && sub.get_about().is_none() {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "sesshu", &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:#?}");
    }
}
