use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use sesshu_formats::{DoseReadOptions, Encoding, ErrorReport, ReadOptions};
use sesshu_store::{DoseImportOptions, ImportMode, ImportOptions, ImportStatus, ImportSummary};

use crate::config::{Config, GlobalArgs};
use sesshu_app::Actor;

/// Exit codes of imports, a contract for scripts.
pub const EXIT_APPLIED: u8 = 0;
pub const EXIT_REFUSED: u8 = 2;
pub const EXIT_PARTIAL: u8 = 3;

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Import a resident-register feed (住民記録連携ファイル)
    Residents(ResidentsArgs),
    /// Import screening-form dose data (予診票データ); rule-breaking doses are recorded and flagged
    Doses(DosesArgs),
}

#[derive(Debug, clap::Args)]
pub struct DosesArgs {
    /// The file to import (CSV; UTF-8 or Shift_JIS)
    file: PathBuf,
    /// auto, sjis or utf8
    #[arg(long, default_value = "auto")]
    encoding: Encoding,
    /// Where to write the row-error report [default: FILE.errors.csv, only when there are errors]
    #[arg(long)]
    report: Option<PathBuf>,
    /// Refuse the whole file if any row is refused
    #[arg(long)]
    all_or_nothing: bool,
    /// Print the summary as one JSON object
    #[arg(long)]
    json: bool,
    /// Only read and check the rows' shape, touching no database (the benchmark's baseline)
    #[arg(long, hide = true)]
    parse_only: bool,
    #[command(flatten)]
    rules: crate::config::RulesArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mode {
    Full,
    Diff,
}

#[derive(Debug, clap::Args)]
pub struct ResidentsArgs {
    /// The file to import (CSV; UTF-8 or Shift_JIS)
    file: PathBuf,
    /// full: the file lists everyone (absent persons are reported, never deleted); diff: changes only
    #[arg(long, value_enum, default_value = "diff")]
    mode: Mode,
    /// auto, sjis or utf8
    #[arg(long, default_value = "auto")]
    encoding: Encoding,
    /// Where to write the row-error report [default: FILE.errors.csv, only when there are errors]
    #[arg(long)]
    report: Option<PathBuf>,
    /// Refuse the whole file if any row is bad
    #[arg(long)]
    all_or_nothing: bool,
    /// Print the summary as one JSON object
    #[arg(long)]
    json: bool,
}

/// The error report, opened on the first error so a clean import leaves no file behind.
struct LazyReport {
    path: PathBuf,
    report: Option<ErrorReport<BufWriter<File>>>,
    failure: Option<std::io::Error>,
    written: u64,
}

impl LazyReport {
    fn write(&mut self, e: &sesshu_formats::RowError) {
        if self.failure.is_some() {
            return;
        }
        if self.report.is_none() {
            match File::create(&self.path).and_then(|f| ErrorReport::new(BufWriter::new(f))) {
                Ok(r) => self.report = Some(r),
                Err(err) => {
                    self.failure = Some(err);
                    return;
                }
            }
        }
        if let Some(r) = &mut self.report {
            match r.write(e) {
                Ok(()) => self.written += 1,
                Err(err) => self.failure = Some(err),
            }
        }
    }

    fn finish(self) -> Result<Option<PathBuf>> {
        if let Some(e) = self.failure {
            return Err(e)
                .with_context(|| format!("エラー報告 {} を書けません", self.path.display()));
        }
        match self.report {
            Some(r) => {
                r.finish()?.flush()?;
                Ok(Some(self.path))
            }
            None => Ok(None),
        }
    }
}

impl LazyReport {
    fn new(path: Option<PathBuf>, file: &Path) -> Self {
        Self {
            path: path.unwrap_or_else(|| default_report_path(file)),
            report: None,
            failure: None,
            written: 0,
        }
    }
}

/// A byte-position progress bar on a terminal (hidden for `--json`; indicatif hides it itself
/// when stderr is not a terminal).
fn progress_bar(size: u64, hidden: bool) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(size)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} 取込中 [{bar:40}] {bytes}/{total_bytes} 残り {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn exit_code(status: ImportStatus) -> ExitCode {
    ExitCode::from(match status {
        ImportStatus::Applied => EXIT_APPLIED,
        ImportStatus::Partial => EXIT_PARTIAL,
        ImportStatus::Refused => EXIT_REFUSED,
    })
}

async fn run_doses(global: &GlobalArgs, args: DosesArgs) -> Result<ExitCode> {
    let book = args.rules.load()?;
    if args.parse_only {
        return parse_only(&args, &book);
    }
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let file = File::open(&args.file)
        .with_context(|| format!("ファイル {} を開けません", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(size, args.json);
    let progress_bar = bar.clone();
    let mut report = LazyReport::new(args.report.clone(), &args.file);
    let today = sesshu_web::today_in_japan();
    let options = DoseImportOptions {
        all_or_nothing: args.all_or_nothing,
        dry_run: false,
        file_name: file_name(&args.file),
        operator: sesshu_app::actor::operator_name(),
        read: DoseReadOptions {
            encoding: args.encoding,
            aliases: config.aliases.clone(),
            today: Some(today),
            products: book.product_codes(),
            tests: book.test_codes(),
        },
        today,
    };
    let app = config.app(store.clone(), &args.rules)?;
    let started = std::time::Instant::now();
    let summary = app
        .import_doses(
            &Actor::operator(Some(tenant)),
            tenant,
            file,
            options,
            |e| report.write(e),
            move |pos| progress_bar.set_position(pos),
        )
        .await?;
    bar.finish_and_clear();
    let report_path = report.finish()?;
    store.close().await;
    let seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    if args.json {
        println!(
            "{}",
            json!({
                "import_id": summary.import_id,
                "status": summary.status.as_str(),
                "encoding": summary.encoding,
                "file_sha256": summary.file_sha256,
                "total_rows": summary.total_rows,
                "inserted": summary.inserted,
                "flagged": summary.flagged,
                "duplicate": summary.duplicate,
                "rejected": summary.rejected,
                "deferred": summary.deferred,
                "warnings": summary.warnings,
                "message": summary.message,
                "report": report_path.as_ref().map(|p| p.display().to_string()),
                "seconds": seconds,
            })
        );
    } else {
        for w in &summary.warnings {
            println!("注意: {w}");
        }
        match summary.status {
            ImportStatus::Refused => {
                println!("取込を中止しました。データは変更されていません。");
            }
            ImportStatus::Applied => println!("取込が完了しました。"),
            ImportStatus::Partial => println!("取り込めない行を除いて取り込みました。"),
        }
        if let Some(m) = &summary.message {
            println!("  {m}");
        }
        println!(
            "  記録 {} (うち定期接種の規則に合わないもの {}, 見合わせ {})  重複 {}  エラー {}  (計 {} 行, {:.1} 秒)",
            summary.inserted,
            summary.flagged,
            summary.deferred,
            summary.duplicate,
            summary.rejected,
            summary.total_rows,
            seconds
        );
        if let Some(p) = &report_path {
            println!("  エラー報告: {}", p.display());
        }
        println!("  取込ID: {}", summary.import_id);
    }
    Ok(exit_code(summary.status))
}

fn parse_only(args: &DosesArgs, book: &sesshu_schedule::RuleBook) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let file = File::open(&args.file)
        .with_context(|| format!("ファイル {} を開けません", args.file.display()))?;
    let mut reader = sesshu_formats::DoseReader::new(
        std::io::BufReader::new(file),
        DoseReadOptions {
            encoding: args.encoding,
            products: book.product_codes(),
            tests: book.test_codes(),
            ..DoseReadOptions::default()
        },
    )?;
    let (mut good, mut bad) = (0u64, 0u64);
    while let Some(row) = reader.next_record()? {
        match row {
            Ok(_) => good += 1,
            Err(_) => bad += 1,
        }
    }
    println!(
        "{}",
        json!({"rows": good + bad, "valid": good, "rejected": bad,
               "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0})
    );
    Ok(ExitCode::SUCCESS)
}

fn default_report_path(file: &Path) -> PathBuf {
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".errors.csv");
    file.with_file_name(name)
}

pub async fn run(global: &GlobalArgs, command: ImportCommand) -> Result<ExitCode> {
    let args = match command {
        ImportCommand::Residents(args) => args,
        ImportCommand::Doses(args) => return run_doses(global, args).await,
    };
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let app = config.app(store.clone(), &crate::config::RulesArg::default())?;
    let file = File::open(&args.file)
        .with_context(|| format!("ファイル {} を開けません", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);

    let bar = progress_bar(size, args.json);
    let progress_bar = bar.clone();
    let mut report = LazyReport::new(args.report.clone(), &args.file);
    let options = ImportOptions {
        mode: match args.mode {
            Mode::Full => ImportMode::Full,
            Mode::Diff => ImportMode::Diff,
        },
        all_or_nothing: args.all_or_nothing,
        max_identity_changes: None,
        dry_run: false,
        file_name: file_name(&args.file),
        operator: sesshu_app::actor::operator_name(),
        read: ReadOptions {
            encoding: args.encoding,
            aliases: config.aliases.clone(),
            today: Some(sesshu_web::today_in_japan()),
        },
    };
    let started = std::time::Instant::now();
    let summary = app
        .import_residents(
            &Actor::operator(Some(tenant)),
            tenant,
            file,
            options,
            |e| report.write(e),
            move |pos| progress_bar.set_position(pos),
        )
        .await?;
    bar.finish_and_clear();
    let report_path = report.finish()?;
    store.close().await;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            summary_json(&summary, report_path.as_deref(), seconds)
        );
    } else {
        print_summary(&summary, report_path.as_deref(), seconds);
    }
    Ok(exit_code(summary.status))
}

fn summary_json(s: &ImportSummary, report: Option<&Path>, seconds: f64) -> serde_json::Value {
    json!({
        "import_id": s.import_id,
        "status": s.status.as_str(),
        "encoding": s.encoding,
        "file_sha256": s.file_sha256,
        "total_rows": s.total_rows,
        "inserted": s.inserted,
        "updated": s.updated,
        "unchanged": s.unchanged,
        "rejected": s.rejected,
        "missing": s.missing,
        "identity_changed": s.identity_changed,
        "identity_changes": s.identity_sample,
        "warnings": s.warnings,
        "message": s.message,
        "report": report.map(|p| p.display().to_string()),
        "seconds": (seconds * 1000.0).round() / 1000.0,
    })
}

fn print_summary(s: &ImportSummary, report: Option<&Path>, seconds: f64) {
    for w in &s.warnings {
        println!("注意: {w}");
    }
    match s.status {
        ImportStatus::Refused => {
            println!("取込を中止しました。データは変更されていません。");
            if let Some(m) = &s.message {
                println!("理由: {m}");
            }
        }
        ImportStatus::Applied => println!("取込が完了しました ({})。", s.encoding.unwrap_or("")),
        ImportStatus::Partial => println!(
            "誤りのある行を除いて取り込みました ({})。",
            s.encoding.unwrap_or("")
        ),
    }
    println!(
        "  新規 {}  更新 {}  変更なし {}  エラー {}  (計 {} 行, {:.1} 秒)",
        s.inserted, s.updated, s.unchanged, s.rejected, s.total_rows, seconds
    );
    if s.identity_changed > 0 {
        let first: Vec<String> = s
            .identity_sample
            .iter()
            .take(5)
            .map(|c| {
                format!(
                    "{} {}→{} {}→{}",
                    c.address_number,
                    c.name_before,
                    c.name_after,
                    c.birth_date_before,
                    c.birth_date_after
                )
            })
            .collect();
        println!(
            "  氏名・生年月日の変更: {} 人 (例: {})",
            s.identity_changed,
            first.join(", ")
        );
    }
    if s.missing > 0 {
        println!(
            "  全件ファイルに含まれない登録者: {} 人 (削除はしていません。例: {})",
            s.missing,
            s.missing_sample.join(", ")
        );
    }
    if let Some(p) = report {
        println!("  エラー報告: {}", p.display());
    }
    println!("  取込ID: {}", s.import_id);
}
