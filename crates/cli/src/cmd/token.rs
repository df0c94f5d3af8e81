use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use sesshu_store::Outcome;

use crate::cmd::audit::cli_event;
use crate::config::{Config, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a machine client; printed once, stored only hashed
    Create {
        /// What the token is for (the machine client), shown in `sesshu token list`
        name: String,
        /// Roles or permissions (repeatable): role:viewer, dose.read, …
        #[arg(long = "grant", required_unless_present = "prefecture")]
        grants: Vec<String>,
        /// A prefecture's token (01–47): aggregate statistics of its municipalities only
        #[arg(long, conflicts_with = "grants")]
        prefecture: Option<String>,
        /// Days until it expires (at most 30 for My Number use or an administrator's permission)
        #[arg(long, default_value_t = 90)]
        days: i64,
        /// An address or network the token may be used from (repeatable): 10.0.0.5,
        /// 192.168.1.0/24; required for My Number use or an administrator's permission
        #[arg(long = "allow-from")]
        allow_from: Vec<String>,
    },
    /// The municipality's tokens (never their secrets)
    List {
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token at once, after showing it and asking (or with --yes)
    Revoke {
        /// The token's ID as `sesshu token list` prints it
        token_id: String,
        /// Revoke without asking (scripts); the token is still named in the output
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(global: &GlobalArgs, command: TokenCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    if let TokenCommand::Create {
        name,
        prefecture: Some(pref),
        days,
        ..
    } = &command
    {
        let expires = chrono::Utc::now() + chrono::Duration::days((*days).clamp(1, 3650));
        let by = sesshu_app::actor::operator_name();
        let (id, token) = store
            .create_prefecture_token(pref, name, expires, &by)
            .await?;
        store
            .audit(
                None,
                cli_event(
                    "token.admin",
                    Outcome::Ok,
                    vec![],
                    vec![],
                    json!({"action": "create", "token_id": id, "name": name, "prefecture": pref}),
                ),
            )
            .await?;
        println!("{token}");
        eprintln!(
            "都道府県 {pref} のトークン {id} ({name}) を作成しました (集計値のみ)。この値は再表示できません。"
        );
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let tenant = config.tenant(&store).await?;
    let app = config.app(store.clone(), &crate::config::RulesArg::default())?;
    let me = sesshu_app::Actor::operator(Some(tenant));
    match command {
        TokenCommand::Create {
            name,
            grants,
            days,
            allow_from,
            ..
        } => {
            let t = app
                .create_token(&me, tenant, &name, &grants, &allow_from, days)
                .await?;
            println!("{}", t.secret);
            eprintln!(
                "トークン {} ({name}) を作成しました。この値は再表示できません。",
                t.token_id
            );
        }
        TokenCommand::List { json: as_json } => {
            let tokens = app.tokens(&me, tenant).await?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                for t in &tokens {
                    println!("{}", line(t));
                }
            }
        }
        TokenCommand::Revoke { token_id, yes } => {
            let token_id = token_id.trim().to_owned();
            let tokens = app.tokens(&me, tenant).await?;
            let Some(t) = tokens.iter().find(|t| t.token_id == token_id) else {
                anyhow::bail!(
                    "トークン {token_id} はありません (sesshu token list で確かめてください)"
                );
            };
            eprintln!("取り消すトークン: {}", line(t));
            if !yes
                && !confirmed(
                    "このトークンを取り消しますか? 使っている連携はすぐに止まります [y/N] ",
                )?
            {
                eprintln!("取り消しませんでした");
                store.close().await;
                return Ok(ExitCode::FAILURE);
            }
            app.revoke_token(&me, tenant, &token_id).await?;
            println!("トークン {token_id} ({}) を取り消しました", t.name);
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// A token as `list` prints it: ID, name, grants by their Japanese names, expiry.
fn line(t: &sesshu_store::ApiToken) -> String {
    let grants: Vec<String> = t
        .grants
        .iter()
        .map(|g| sesshu_domain::access::grant_label(g))
        .collect();
    format!(
        "{} {:<16} [{}] 期限 {} 接続元 {} {}",
        t.token_id,
        t.name,
        grants.join("・"),
        sesshu_domain::japan_minutes(&t.expires_at),
        if t.allow_from.is_empty() {
            "制限なし"
        } else {
            &t.allow_from
        },
        if t.revoked_at.is_some() {
            "(取消済み)"
        } else {
            ""
        }
    )
}

/// Asks on the terminal; without one (a script), the answer is no: `--yes` says it instead.
fn confirmed(question: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("確認できません (端末がありません): 取り消すなら --yes を付けてください");
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "はい"))
}
