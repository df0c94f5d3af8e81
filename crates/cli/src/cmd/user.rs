use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sesshu_domain::access::{PasswordPolicy, Permission, ROLES, expand, parse_login};
use sesshu_domain::{CivilDate, MunicipalityCode, parse_date};
use sesshu_store::{NewAccount, Outcome, Store};

use crate::cmd::audit::cli_event;
use crate::config::{Config, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create an account (one per person); prints a first password to change at first login
    Add {
        login: String,
        /// The person's name as staff know it
        #[arg(long)]
        name: String,
        /// Roles or permissions to grant (repeatable): role:clerk, dose.write, …
        #[arg(long = "grant")]
        grants: Vec<String>,
        #[arg(long)]
        valid_from: Option<String>,
        #[arg(long)]
        valid_until: Option<String>,
        /// A shared account: allowed only with its registered users and terminals
        #[arg(long)]
        shared: bool,
        #[arg(long)]
        shared_with: Option<String>,
    },
    /// Every account with its grants
    List {
        #[arg(long)]
        json: bool,
    },
    /// Grant a role (role:clerk) or a permission (dose.write), optionally until a day
    Grant {
        login: String,
        grant: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        until: Option<String>,
    },
    /// Revoke a role or permission (kept on record with who and when)
    Revoke {
        login: String,
        grant: String,
    },
    /// Disable now, or let the account end on a day (--last-day; a transfer: today)
    Disable {
        login: String,
        #[arg(long)]
        last_day: Option<String>,
    },
    Enable {
        login: String,
    },
    /// Set a new first password (printed once), to be changed at the next login
    ResetPassword {
        login: String,
    },
    /// Lift a lock after repeated failed logins
    Unlock {
        login: String,
    },
    /// Enrol the second factor: prints the authenticator URL and QR code, and ten recovery codes
    Totp {
        login: String,
        /// Also write the QR code as an SVG file
        #[arg(long)]
        qr: Option<PathBuf>,
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
    #[arg(long)]
    json: bool,
}

fn day(s: &Option<String>, what: &str) -> Result<Option<CivilDate>> {
    s.as_deref()
        .map(|d| parse_date(d).with_context(|| what.to_owned()))
        .transpose()
}

async fn audit_admin(
    store: &Store,
    tenant: MunicipalityCode,
    detail: serde_json::Value,
) -> Result<()> {
    store
        .audit(
            Some(tenant),
            cli_event("user.admin", Outcome::Ok, vec![], vec![], detail),
        )
        .await?;
    Ok(())
}

pub async fn run(global: &GlobalArgs, command: UserCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let what = format!("{command:?}");
    let keyring = config.keyring().ok();
    let result = administer(&store, tenant, command, keyring.as_ref()).await;
    if let Err(e) = &result {
        // A refused change is recorded too: who tried what, and why it was refused.
        store
            .audit(
                Some(tenant),
                cli_event(
                    "user.admin",
                    Outcome::Refused,
                    vec![],
                    vec![],
                    json!({"command": what, "reason": e.to_string()}),
                ),
            )
            .await?;
    }
    store.close().await;
    result
}

async fn administer(
    store: &Store,
    tenant: MunicipalityCode,
    command: UserCommand,
    keyring: Option<&sesshu_crypto::Keyring>,
) -> Result<ExitCode> {
    let by = crate::cmd::import::operator();
    let policy = PasswordPolicy::default();
    let today = sesshu_web::today_in_japan();
    match command {
        UserCommand::Add {
            login,
            name,
            grants,
            valid_from,
            valid_until,
            shared,
            shared_with,
        } => {
            let login = parse_login(&login)?;
            for g in &grants {
                expand(g)?;
            }
            let password = sesshu_crypto::password::first_password(&login, &policy);
            let new = NewAccount {
                login: login.clone(),
                display_name: name,
                shared,
                shared_with,
                valid_from: day(&valid_from, "--valid-from")?.unwrap_or(today),
                valid_until: day(&valid_until, "--valid-until")?,
            };
            store
                .create_account(tenant, &new, &password, &policy, &by)
                .await?;
            for g in &grants {
                store
                    .grant(tenant, &login, g, new.valid_from, new.valid_until, &by)
                    .await?;
            }
            audit_admin(
                store,
                tenant,
                json!({"action": "add", "login": login, "grants": grants, "shared": shared}),
            )
            .await?;
            println!(
                "利用者 {login} を作成しました。初回パスワード (初回ログイン時に変更): {password}"
            );
        }
        UserCommand::List { json: as_json } => {
            let accounts = store.accounts(tenant).await?;
            let mut rows = Vec::new();
            for a in &accounts {
                let grants = store.grants(tenant, &a.login).await?;
                rows.push((a.clone(), grants));
            }
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
        }
        UserCommand::Grant {
            login,
            grant,
            from,
            until,
        } => {
            let from = day(&from, "--from")?.unwrap_or(today);
            store
                .grant(tenant, &login, &grant, from, day(&until, "--until")?, &by)
                .await?;
            audit_admin(
                store,
                tenant,
                json!({"action": "grant", "login": login, "grant": grant, "from": from.to_string(), "until": until}),
            )
            .await?;
            println!("{login} に {grant} を付与しました");
        }
        UserCommand::Revoke { login, grant } => {
            let n = store.revoke(tenant, &login, &grant, &by).await?;
            if n == 0 {
                bail!("{login} に有効な {grant} はありません");
            }
            audit_admin(
                store,
                tenant,
                json!({"action": "revoke", "login": login, "grant": grant}),
            )
            .await?;
            println!("{login} の {grant} を取り消しました");
        }
        UserCommand::Disable { login, last_day } => {
            let last = day(&last_day, "--last-day")?;
            store.disable_account(tenant, &login, last).await?;
            audit_admin(
                store,
                tenant,
                json!({"action": "disable", "login": login, "last_day": last.map(|d| d.to_string())}),
            )
            .await?;
            match last {
                Some(d) => println!("{login} は {d} まで有効です (翌日から利用できません)"),
                None => println!("{login} を無効にしました"),
            }
        }
        UserCommand::Enable { login } => {
            store.enable_account(tenant, &login).await?;
            audit_admin(store, tenant, json!({"action": "enable", "login": login})).await?;
            println!("{login} を有効にしました");
        }
        UserCommand::ResetPassword { login } => {
            let password = sesshu_crypto::password::first_password(&login, &policy);
            store
                .set_password(tenant, &login, &password, &policy, true)
                .await?;
            audit_admin(
                store,
                tenant,
                json!({"action": "reset-password", "login": login}),
            )
            .await?;
            println!("{login} の新しいパスワード (次回ログイン時に変更): {password}");
        }
        UserCommand::Unlock { login } => {
            store.unlock_account(tenant, &login).await?;
            audit_admin(store, tenant, json!({"action": "unlock", "login": login})).await?;
            println!("{login} のロックを解除しました");
        }
        UserCommand::Totp { login, qr } => {
            let Some(keyring) = keyring else {
                bail!("鍵ファイルが必要です (TOTP の鍵は配備の鍵で暗号化して保存します)");
            };
            let secret = sesshu_crypto::totp::new_secret();
            let sealed =
                sesshu_crypto::signing::seal_account_secret(keyring, tenant, &login, &secret)?;
            let codes: Vec<String> = (0..10)
                .map(|_| sesshu_crypto::totp::recovery_code())
                .collect();
            store.enroll_totp(tenant, &login, &sealed, &codes).await?;
            let url = sesshu_crypto::totp::enrolment_url(
                &secret,
                &format!("{login}@{}", tenant.as_string()),
            )?;
            let code = qrcode::QrCode::new(url.as_bytes())?;
            println!(
                "{}",
                code.render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build()
            );
            println!("認証アプリで読み取ってください: {url}");
            if let Some(path) = qr {
                std::fs::write(&path, code.render::<qrcode::render::svg::Color>().build())
                    .with_context(|| format!("{} を書けません", path.display()))?;
            }
            println!("回復コード (各1回、安全な場所に保管): {}", codes.join(" "));
            audit_admin(store, tenant, json!({"action": "totp", "login": login})).await?;
        }
        UserCommand::Roles => {
            for r in ROLES {
                let perms: Vec<&str> = r.permissions.iter().map(|p| p.code()).collect();
                println!("role:{:<18} {:<16} {}", r.name, r.label, perms.join(", "));
            }
            for p in Permission::ALL {
                println!("{:<24} {}", p.code(), p.label());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The periodic access review the assessments promise: every account, its grants, last login,
/// and whether it is dormant or about to expire.
pub async fn access_review(global: &GlobalArgs, args: AccessReviewArgs) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let today = day(&args.as_of, "--as-of")?.unwrap_or_else(sesshu_web::today_in_japan);
    let rows = store.access_review(tenant, today).await?;
    store
        .audit(
            Some(tenant),
            cli_event(
                "user.review",
                Outcome::Ok,
                vec![],
                vec![],
                json!({"as_of": today.to_string(), "accounts": rows.len()}),
            ),
        )
        .await?;
    store.close().await;
    if let Some(path) = &args.csv {
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("{} を作成できません", path.display()))?;
        file.write_all(b"\xEF\xBB\xBF")?;
        let mut w = csv::Writer::from_writer(file);
        for r in &rows {
            w.serialize(r)?;
        }
        w.flush()?;
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
