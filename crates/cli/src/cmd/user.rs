use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;
use sesshu_app::Actor;
use sesshu_app::accounts::{AccountChange, AccountChanged};
use sesshu_domain::access::{Permission, ROLES};
use sesshu_domain::{CivilDate, parse_date};

use crate::config::RulesArg;
use crate::config::{Config, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create an account (one per person); prints a first password to change at first login
    Add {
        /// The account's login name
        login: String,
        /// The person's name as staff know it
        #[arg(long)]
        name: String,
        /// Roles or permissions to grant (repeatable): role:clerk, dose.write, …
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// First day the account may be used (YYYY-MM-DD; default: today)
        #[arg(long)]
        valid_from: Option<String>,
        /// Last day the account may be used (YYYY-MM-DD; default: no end)
        #[arg(long)]
        valid_until: Option<String>,
        /// A shared account: allowed only with its registered users and terminals
        #[arg(long)]
        shared: bool,
        /// For a shared account: who shares it (shown in the access review)
        #[arg(long)]
        shared_with: Option<String>,
    },
    /// Every account with its grants
    List {
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Grant a role (role:clerk) or a permission (dose.write), optionally until a day
    Grant {
        /// The account's login name
        login: String,
        /// A role (role:clerk) or one permission (dose.write); `sesshu user roles` lists them
        grant: String,
        /// First day the grant is in force (YYYY-MM-DD; default: today)
        #[arg(long)]
        from: Option<String>,
        /// Last day the grant is in force (YYYY-MM-DD; default: no end)
        #[arg(long)]
        until: Option<String>,
    },
    /// Revoke a role or permission (kept on record with who and when)
    Revoke {
        /// The account's login name
        login: String,
        /// A role (role:clerk) or one permission (dose.write); `sesshu user roles` lists them
        grant: String,
    },
    /// Approve a grant of My Number use or of an administrator's permission that an
    /// administrator made on the pages (four-eyes): it is in force from now
    Approve {
        /// The account's login name
        login: String,
        /// The grant as the access review lists it under 承認待ち (role:administrator, …)
        grant: String,
    },
    /// Disable now, or let the account end on a day (--last-day; a transfer: today)
    Disable {
        /// The account's login name
        login: String,
        /// The last day the account may be used (a transfer); without it, disabled now
        #[arg(long)]
        last_day: Option<String>,
    },
    /// Enable a disabled account again (its grants are as they were)
    Enable {
        /// The account's login name
        login: String,
    },
    /// Set a new first password (printed once), to be changed at the next login
    ResetPassword {
        /// The account's login name
        login: String,
    },
    /// Lift a lock after repeated failed logins
    Unlock {
        /// The account's login name
        login: String,
    },
    /// Enrol the second factor: prints the authenticator URL and QR code, and ten recovery codes
    Totp {
        /// The account's login name
        login: String,
        /// Also write the QR code as an SVG file
        #[arg(long)]
        qr: Option<PathBuf>,
    },
    /// Bind a clinic's account (role:clinic) to its medical institution: its checks before a
    /// dose are audited under it, and it cannot check without one
    Institution {
        /// The account's login name
        login: String,
        /// 医療機関コード (10 digits); an empty string unbinds the account
        code: String,
    },
    /// The roles and permissions there are
    Roles,
}

#[derive(Debug, clap::Args)]
pub struct AccessReviewArgs {
    /// The day of the review [default: today in Japan]
    #[arg(long)]
    as_of: Option<String>,
    /// Write the review as CSV (UTF-8 with BOM) here instead of a table
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Print the result as JSON instead of text
    #[arg(long)]
    json: bool,
}

fn day(s: &Option<String>, what: &str) -> Result<Option<CivilDate>> {
    s.as_deref()
        .map(|d| parse_date(d).with_context(|| what.to_owned()))
        .transpose()
}

pub async fn run(global: &GlobalArgs, command: UserCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let app = config.app(store.clone(), &RulesArg::default())?;
    let me = Actor::operator(Some(tenant));
    let today = sesshu_web::today_in_japan();
    let change = match command {
        UserCommand::Add {
            login,
            name,
            grants,
            valid_from,
            valid_until,
            shared,
            shared_with,
        } => AccountChange::Add {
            login,
            display_name: name,
            shared,
            shared_with,
            valid_from: day(&valid_from, "--valid-from")?,
            valid_until: day(&valid_until, "--valid-until")?,
            grants,
        },
        UserCommand::Grant {
            login,
            grant,
            from,
            until,
        } => AccountChange::Grant {
            login,
            grant,
            valid_from: day(&from, "--from")?,
            valid_until: day(&until, "--until")?,
        },
        UserCommand::Revoke { login, grant } => AccountChange::Revoke { login, grant },
        UserCommand::Approve { login, grant } => AccountChange::Approve { login, grant },
        UserCommand::Disable { login, last_day } => AccountChange::Disable {
            login,
            last_day: day(&last_day, "--last-day")?,
        },
        UserCommand::Enable { login } => AccountChange::Enable { login },
        UserCommand::ResetPassword { login } => AccountChange::ResetPassword { login },
        UserCommand::Unlock { login } => AccountChange::Unlock { login },
        UserCommand::Institution { login, code } => AccountChange::SetInstitution {
            login,
            institution_code: code,
        },
        UserCommand::Totp { login, qr } => {
            let changed = app
                .change_account(&me, tenant, &AccountChange::EnrolTotp { login })
                .await?;
            if let AccountChanged::TotpEnrolled {
                otpauth,
                recovery_codes,
                ..
            } = changed
            {
                let code = qrcode::QrCode::new(otpauth.as_bytes())?;
                println!(
                    "{}",
                    code.render::<qrcode::render::unicode::Dense1x2>()
                        .quiet_zone(true)
                        .build()
                );
                println!("認証アプリで読み取ってください: {otpauth}");
                if let Some(path) = qr {
                    std::fs::write(&path, code.render::<qrcode::render::svg::Color>().build())
                        .with_context(|| format!("{} を書けません", path.display()))?;
                }
                println!(
                    "回復コード (各1回、安全な場所に保管): {}",
                    recovery_codes.join(" ")
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        UserCommand::List { json: as_json } => {
            let rows = app.accounts(&me, tenant).await?;
            if as_json {
                let out: Vec<_> = rows
                    .iter()
                    .map(|(a, g)| json!({"account": a, "grants": g}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for (a, grants) in &rows {
                    let active: Vec<&str> = grants
                        .iter()
                        .filter(|g| g.active_on(today))
                        .map(|g| g.grant_name.as_str())
                        .collect();
                    println!(
                        "{:<16} {:<12} {}{} [{}]",
                        a.login,
                        a.display_name,
                        if a.disabled { "(無効) " } else { "" },
                        if a.shared { "(共用) " } else { "" },
                        active.join(", ")
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        UserCommand::Roles => {
            for r in ROLES {
                let perms: Vec<&str> = r.permissions.iter().map(|p| p.code()).collect();
                println!("role:{:<18} {:<16} {}", r.name, r.label, perms.join(", "));
            }
            for p in Permission::ALL {
                println!("{:<24} {}", p.code(), p.label());
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let changed = app.change_account(&me, tenant, &change).await?;
    if !matches!(changed, AccountChanged::TotpEnrolled { .. }) {
        println!("{}", changed.message());
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The periodic access review the assessments promise: every account, its grants, last login,
/// and whether it is dormant or about to expire.
pub async fn access_review(global: &GlobalArgs, args: AccessReviewArgs) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let today = day(&args.as_of, "--as-of")?.unwrap_or_else(sesshu_web::today_in_japan);
    let app = config.app(store.clone(), &RulesArg::default())?;
    let rows = app
        .access_review(&Actor::operator(Some(tenant)), tenant, Some(today))
        .await?;
    store.close().await;
    if let Some(path) = &args.csv {
        std::fs::write(path, sesshu_app::accounts::access_review_csv(&rows))
            .with_context(|| format!("{} を作成できません", path.display()))?;
        println!("{} 件を {} に書き出しました", rows.len(), path.display());
    } else if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("利用者の点検 ({today} 時点)");
        for r in &rows {
            println!(
                "  {:<16} {:<12} [{}] 最終ログイン {} {}",
                r.login,
                r.name,
                r.grants,
                if r.last_login.is_empty() {
                    "なし"
                } else {
                    &r.last_login
                },
                r.findings
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
