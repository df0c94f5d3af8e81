//! `sesshu statistics`: the office's aggregate tables, never a person.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::Actor;
use sesshu_app::spreadsheet::CsvEncoding;
use sesshu_app::statistics::{annual_csv, target_csv};
use sesshu_store::Dimension;

use crate::config::{Config, GlobalArgs, RulesArg};

/// Where and how a table is also written as CSV.
#[derive(Debug, clap::Args)]
pub struct CsvOut {
    /// Also write it as CSV to this file
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The CSV's encoding: utf8 (with BOM, for Excel) or sjis
    #[arg(long, default_value = "utf8")]
    encoding: String,
}

impl CsvOut {
    fn write(&self, text: &str) -> Result<()> {
        let Some(path) = &self.csv else {
            return Ok(());
        };
        let Some(encoding) = CsvEncoding::parse(&self.encoding) else {
            anyhow::bail!("--encoding は utf8 か sjis です (「{}」)", self.encoding);
        };
        std::fs::write(path, encoding.encode(text).0)?;
        println!("{} に書きました", path.display());
        Ok(())
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum StatisticsCommand {
    /// Routine doses of a fiscal year by vaccine, 期/回 and sex (地域保健・健康増進事業報告)
    Annual {
        /// 年度 (2026 is April 2026 to March 2027) [default: the current one]
        #[arg(long)]
        fiscal_year: Option<i32>,
        #[command(flatten)]
        out: CsvOut,
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
    /// 接種率 by month of birth: of the residents born in each month, those with the dose
    Cohorts {
        /// The series key (hib, mr1, hpv …)
        #[arg(long)]
        series: String,
        /// The dose of the series
        #[arg(long, default_value_t = 1)]
        dose: u32,
        /// The first day of births counted (YYYY-MM-DD)
        #[arg(long)]
        born_from: String,
        /// The last day of births counted (YYYY-MM-DD)
        #[arg(long)]
        born_to: String,
    },
    /// 接種率 of a series over the fiscal year's target as the rules define it
    Coverage {
        /// The series key (mr2, hpv, flu_b …; `sesshu schedule rules` lists them)
        #[arg(long)]
        series: String,
        /// 年度 [default: the current one]
        #[arg(long)]
        fiscal_year: Option<i32>,
        #[command(flatten)]
        out: CsvOut,
    },
}

pub async fn run(global: &GlobalArgs, command: StatisticsCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let app = config.app(store.clone(), &RulesArg::default())?;
    let me = Actor::operator(Some(tenant));
    let this_year = sesshu_domain::FiscalYear::of(sesshu_app::today_in_japan()).0;
    let (fiscal_year, out) = match command {
        StatisticsCommand::Annual { fiscal_year, out } => (fiscal_year, out),
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
        StatisticsCommand::Cohorts {
            series,
            dose,
            born_from,
            born_to,
        } => {
            let day = |flag: &str, v: &str| {
                sesshu_domain::parse_date(v).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
            };
            let (from, to) = (day("born-from", &born_from)?, day("born-to", &born_to)?);
            let done = app
                .coverage_by_cohort(&me, tenant, &series, dose, from, to)
                .await;
            store.close().await;
            let c = done?;
            println!("{} 第{}回 生まれ月ごとの接種率", c.series_name, c.dose);
            for k in &c.cohorts {
                let p = k
                    .percent
                    .map_or_else(String::new, |p| format!(" ({p:.1}%)"));
                println!("  {}: {} / {} 人{p}", k.cohort, k.vaccinated, k.persons);
            }
            return Ok(ExitCode::SUCCESS);
        }
        StatisticsCommand::Coverage {
            series,
            fiscal_year,
            out,
        } => {
            let year = fiscal_year.unwrap_or(this_year);
            let done = app.target_coverage(&me, tenant, &series, year).await;
            store.close().await;
            let c = done?;
            let n = |v: Option<i64>| v.map_or_else(|| "x".to_owned(), |v| v.to_string());
            let pct = |p: Option<f64>| p.map_or_else(String::new, |p| format!(" ({p:.1}%)"));
            println!(
                "{}年度 {}: 対象者 {} 人 ({} 時点)",
                c.fiscal_year,
                c.series_name,
                n(c.target),
                c.as_of
            );
            for d in &c.doses {
                println!("  {}: {}{}", d.stage, n(d.vaccinated), pct(d.percent));
            }
            println!("  完了: {}{}", n(c.complete), pct(c.complete_percent));
            out.write(&target_csv(&c))?;
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
    out.write(&annual_csv(&report))?;
    Ok(ExitCode::SUCCESS)
}
