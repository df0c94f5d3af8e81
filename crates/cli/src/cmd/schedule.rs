use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use sesshu_domain::parse_date;

use crate::config::{Config, GlobalArgs, RulesArg};
use sesshu_schedule::{Engine, EvalRequest, RuleBook};

#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCommand {
    /// Judge a history and forecast every series: one JSON object in (FILE or stdin), one out
    Eval {
        /// The request as JSON; standard input when absent
        file: Option<PathBuf>,
        #[command(flatten)]
        rules: RulesArg,
    },
    /// Print the rules file in force (the shipped one unless --rules / SESSHU_RULES names another)
    Rules {
        #[command(flatten)]
        rules: RulesArg,
    },
    /// Forecast every person of the municipality: how many are in target and due, per series
    Due(DueArgs),
}

#[derive(Debug, clap::Args)]
pub struct DueArgs {
    /// The day to forecast on [default: today in Japan]
    #[arg(long)]
    as_of: Option<String>,
    /// Print the result as JSON instead of text
    #[arg(long)]
    json: bool,
    /// Also time a pass that only reads the dose rows (the benchmark's I/O floor)
    #[arg(long)]
    baseline: bool,
    #[command(flatten)]
    rules: RulesArg,
}

pub async fn run(global: &GlobalArgs, command: ScheduleCommand) -> Result<ExitCode> {
    match command {
        ScheduleCommand::Due(args) => due(global, args).await,
        ScheduleCommand::Rules { rules } => {
            let text = rules.text()?;
            // Check before printing, so a broken file is never passed on as if it were valid.
            RuleBook::parse(&text)?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCommand::Eval { file, rules } => {
            let engine = Engine::new(rules.load()?);
            let mut input = String::new();
            match &file {
                Some(p) => {
                    input = std::fs::read_to_string(p)
                        .with_context(|| format!("{} を読めません", p.display()))?
                }
                None => {
                    std::io::stdin()
                        .read_to_string(&mut input)
                        .context("標準入力を読めません")?;
                }
            }
            let request: EvalRequest = match serde_json::from_str(&input) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("エラー: 入力の JSON が読めません: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let response = engine.evaluate(&request);
            println!("{}", serde_json::to_string_pretty(&response)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn due(global: &GlobalArgs, args: DueArgs) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let as_of = match &args.as_of {
        Some(s) => parse_date(s).context("--as-of")?,
        None => sesshu_web::today_in_japan(),
    };
    let baseline = if args.baseline {
        let started = std::time::Instant::now();
        let rows = store.count_dose_rows_by_reading(tenant).await?;
        Some((rows, started.elapsed().as_secs_f64()))
    } else {
        None
    };
    let app = config.app(store.clone(), &args.rules)?;
    let f = app
        .forecast_register(&sesshu_app::Actor::operator(Some(tenant)), tenant, as_of)
        .await?;
    store.close().await;
    let (persons, doses, seconds) = (f.persons, f.doses, f.seconds);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "as_of": as_of.to_string(),
                "persons": persons,
                "doses": doses,
                "seconds": seconds,
                "persons_per_second": persons as f64 / seconds.max(1e-9),
                "baseline": baseline.map(|(rows, s)| serde_json::json!({"dose_rows": rows, "seconds": s})),
                "series": f.series,
            })
        );
    } else {
        println!("{as_of} 時点 ({persons} 人, 接種記録 {doses} 件, {seconds:.1} 秒)");
        println!("  {:>10} {:>10}  予防接種", "対象", "接種可");
        // In the rules file's order, by the names staff know; the sequences only add up periods.
        for rule in &app.engine.rules().series {
            let t = f.series.get(&rule.key).copied().unwrap_or_default();
            println!(
                "  {:>10} {:>10}  {} ({})",
                t.in_target, t.eligible, rule.name, rule.key
            );
        }
        if let Some((rows, s)) = baseline {
            println!("  (接種記録 {rows} 件の読み出しのみ: {s:.1} 秒)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
