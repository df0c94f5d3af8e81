//! `sesshu extract`: ad-hoc extraction (EUC) of doses by conditions into a CSV, never with the
//! My Number; the conditions, the row count and the persons written are audited.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::Actor;
use sesshu_app::extraction::{Column, CsvEncoding, ExtractionRequest};
use sesshu_domain::parse_date;
use sesshu_store::RoutineFilter;

use crate::config::{Config, GlobalArgs, RulesArg};

#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// Product codes (repeatable; none: every product)
    #[arg(long = "product")]
    products: Vec<String>,
    /// Only this dose (回数)
    #[arg(long)]
    dose: Option<u32>,
    /// Given on or after this day
    #[arg(long)]
    from: Option<String>,
    /// Given on or before this day
    #[arg(long)]
    to: Option<String>,
    /// Age at the dose, at least (whole years)
    #[arg(long)]
    age_from: Option<u32>,
    /// Age at the dose, at most (whole years)
    #[arg(long)]
    age_to: Option<u32>,
    /// 町丁目 (from the address; a prefix matches: 原町田 finds 原町田一丁目 …)
    #[arg(long)]
    district: Option<String>,
    /// 医療機関コード
    #[arg(long)]
    institution: Option<String>,
    /// any, routine (定期) or flagged (要確認)
    #[arg(long, default_value = "any")]
    routine: String,
    /// Include deferred doses (見合わせ)
    #[arg(long)]
    deferred: bool,
    /// Include doses given elsewhere (転入前接種)
    #[arg(long)]
    elsewhere: bool,
    /// Include persons who moved out or died
    #[arg(long)]
    former_residents: bool,
    /// Columns, comma-separated: address_number,name,kana,birth_date,sex,district,address,
    /// product,ordinal,given_on,age_at_dose,institution,institution_name,lot,judgement,routine,
    /// billing_month
    #[arg(
        long,
        default_value = "address_number,name,birth_date,product,ordinal,given_on"
    )]
    columns: String,
    /// utf8 (with BOM, for Excel) or sjis
    #[arg(long, default_value = "utf8")]
    encoding: String,
    /// Where to write the CSV
    #[arg(long)]
    out: PathBuf,
}

pub async fn run(global: &GlobalArgs, a: ExtractArgs) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let app = config.app(store.clone(), &RulesArg::default())?;
    let date = |s: &Option<String>| s.as_deref().map(parse_date).transpose();
    let req = ExtractionRequest {
        products: a
            .products
            .iter()
            .map(|p| p.trim().to_ascii_lowercase())
            .collect(),
        ordinal: a.dose,
        given_from: date(&a.from)?,
        given_to: date(&a.to)?,
        age_from: a.age_from,
        age_to: a.age_to,
        district: a.district,
        institution: a.institution,
        routine: match a.routine.as_str() {
            "any" => RoutineFilter::Any,
            "routine" => RoutineFilter::Routine,
            "flagged" => RoutineFilter::Flagged,
            other => {
                anyhow::bail!("--routine は any, routine, flagged のいずれかです (「{other}」)")
            }
        },
        include_deferred: a.deferred,
        include_elsewhere: a.elsewhere,
        include_former_residents: a.former_residents,
        columns: a
            .columns
            .split(',')
            .filter(|c| !c.trim().is_empty())
            .map(Column::parse)
            .collect::<Result<_, _>>()?,
        encoding: CsvEncoding::parse(&a.encoding).ok_or_else(|| {
            anyhow::anyhow!("--encoding は utf8 か sjis です (「{}」)", a.encoding)
        })?,
    };
    let done = app
        .extract(&Actor::operator(Some(tenant)), tenant, &req)
        .await;
    store.close().await;
    let x = done?;
    std::fs::write(&a.out, &x.csv)?;
    println!(
        "{} に {} 行 ({} 人) を書きました{}",
        a.out.display(),
        x.rows,
        x.persons,
        if x.unmappable > 0 {
            format!(" (Shift_JIS にない文字を 〓 にした行 {})", x.unmappable)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
