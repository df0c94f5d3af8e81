//! `sesshu statistics`: the office's aggregate tables, never a person.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::Actor;
use sesshu_app::spreadsheet::CsvEncoding;
use sesshu_app::statistics::annual_csv;
use sesshu_store::Dimension;

use crate::config::{Config, GlobalArgs, RulesArg};

#[derive(Debug, clap::Subcommand)]
pub enum StatisticsCommand {
    /// Routine doses of a fiscal year by vaccine, 期/回 and sex (地域保健・健康増進事業報告)
    Annual {
        /// 年度 (2026 is April 2026 to March 2027) [default: the current one]
        #[arg(long)]
        fiscal_year: Option<i32>,
        /// Also write it as CSV to this file
        #[arg(long)]
        csv: Option<PathBuf>,
        /// The CSV's encoding: utf8 (with BOM, for Excel) or sjis
        #[arg(long, default_value = "utf8")]
        encoding: String,
    },
    /// A series' doses of a fiscal year counted by month, sex, age band or 町丁目
    Breakdown {
        /// The series key (hib, mr1, hepb …; `sesshu schedule rules` lists them)
        #[arg(long)]
        series: String,
        /// Only this dose of the series [default: every dose]
        #[arg(long)]
        dose: Option<u32>,
        /// 年度 [default: the current one]
        #[arg(long)]
        fiscal_year: Option<i32>,
        /// month, sex, age or district
        #[arg(long, default_value = "month")]
        by: String,
    },
}

pub async fn run(global: &GlobalArgs, command: StatisticsCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let app = config.app(store.clone(), &RulesArg::default())?;
    let me = Actor::operator(Some(tenant));
    let this_year = sesshu_domain::FiscalYear::of(sesshu_app::today_in_japan()).0;
    let (fiscal_year, csv, encoding) = match command {
        StatisticsCommand::Annual {
            fiscal_year,
            csv,
            encoding,
        } => (fiscal_year, csv, encoding),
        StatisticsCommand::Breakdown {
            series,
            dose,
            fiscal_year,
            by,
        } => {
            let by = match by.as_str() {
                "month" => Dimension::Month,
                "sex" => Dimension::Sex,
                "age" => Dimension::Age,
                "district" => Dimension::Address,
                other => {
                    anyhow::bail!("--by は month, sex, age, district のいずれかです (「{other}」)")
                }
            };
            let year = fiscal_year.unwrap_or(this_year);
            let done = app
                .dose_breakdown(&me, tenant, &series, dose, year, by)
                .await;
            store.close().await;
            let b = done?;
            println!(
                "{}年度 {}{}: 計 {} 件",
                b.fiscal_year,
                b.series_name,
                b.dose.map_or_else(String::new, |d| format!(" 第{d}回")),
                b.total
            );
            for (label, n) in &b.rows {
                println!("  {label}: {n}");
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let year = fiscal_year.unwrap_or(this_year);
    let done = app.annual_report(&me, tenant, year).await;
    store.close().await;
    let report = done?;
    println!(
        "{}年度 ({} 〜 {}) 定期の予防接種",
        report.fiscal_year, report.from, report.to
    );
    for l in &report.lines {
        let n = |v: Option<i64>| v.map_or_else(|| "x".to_owned(), |v| v.to_string());
        println!(
            "  {} {}: 男 {} 女 {} 計 {}",
            l.product_name,
            l.stage,
            n(l.male),
            n(l.female),
            n(l.total)
        );
    }
    if let Some(path) = csv {
        let Some(encoding) = CsvEncoding::parse(&encoding) else {
            anyhow::bail!("--encoding は utf8 か sjis です (「{encoding}」)");
        };
        let bytes = encoding.encode(&annual_csv(&report)).0;
        std::fs::write(&path, bytes)?;
        println!("{} に書きました", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
