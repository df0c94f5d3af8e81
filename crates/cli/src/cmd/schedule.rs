use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use sesshu_schedule::rules::DEFAULT_RULES;
use sesshu_schedule::{Engine, EvalRequest, RuleBook};

#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCommand {
    /// Judge a history and forecast every series: one JSON object in (FILE or stdin), one out
    Eval {
        file: Option<PathBuf>,
        #[command(flatten)]
        rules: RulesArg,
    },
    /// Print the rules file in force (the shipped one unless --rules / SESSHU_RULES names another)
    Rules {
        #[command(flatten)]
        rules: RulesArg,
    },
}

#[derive(Debug, clap::Args)]
pub struct RulesArg {
    /// A city's own rules file instead of the shipped one
    #[arg(long = "rules", env = "SESSHU_RULES", value_name = "FILE")]
    path: Option<PathBuf>,
}

impl RulesArg {
    fn text(&self) -> Result<String> {
        match &self.path {
            Some(p) => std::fs::read_to_string(p)
                .with_context(|| format!("規則ファイル {} を読めません", p.display())),
            None => Ok(DEFAULT_RULES.to_owned()),
        }
    }

    pub fn load(&self) -> Result<RuleBook> {
        Ok(RuleBook::parse(&self.text()?)?)
    }
}

pub fn run(command: ScheduleCommand) -> Result<ExitCode> {
    match command {
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
