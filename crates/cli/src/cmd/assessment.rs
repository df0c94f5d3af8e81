//! `sesshu assessment`: the privacy assessment's figures from the live register, and whether
//! any has left the band the published assessment declares (exit 3: a re-assessment is due).

use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::Actor;
use sesshu_app::assessment::Declared;

use crate::config::{Config, GlobalArgs, RulesArg};

#[derive(Debug, clap::Args)]
pub struct AssessmentArgs {
    /// The assessment's 対象人数, in its wording (e.g. 10万人以上30万人未満)
    #[arg(long)]
    declared_persons: Option<String>,
    /// The assessment's 使用者数 (e.g. 10人以上50人未満)
    #[arg(long)]
    declared_users: Option<String>,
    /// The assessment's 主な記録項目 (e.g. 10項目以上50項目未満)
    #[arg(long)]
    declared_items: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(global: &GlobalArgs, args: AssessmentArgs) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let app = config.app(store.clone(), &RulesArg::default())?;
    let declared = Declared {
        persons: args.declared_persons,
        users: args.declared_users,
        items: args.declared_items,
    };
    let done = app
        .assessment_facts(&Actor::operator(Some(tenant)), tenant, &declared)
        .await;
    store.close().await;
    let facts = done?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&facts)?);
    } else {
        println!(
            "団体 {} の評価の裏付け ({} 時点)",
            facts.municipality, facts.as_of
        );
        for f in &facts.facts {
            let declared = f
                .declared
                .as_deref()
                .map_or_else(String::new, |d| format!("  評価書: {d}"));
            println!("  {}: {} ({}){declared}", f.item, f.value, f.band);
        }
        println!("  個人番号を保有: {} 人", facts.with_my_number);
        println!(
            "  {} 以降の操作ログ: 拒否 {} 件, 失敗 {} 件",
            facts.since, facts.refused, facts.failed
        );
        for w in &facts.warnings {
            println!("警告: {w}");
        }
    }
    Ok(if facts.warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
