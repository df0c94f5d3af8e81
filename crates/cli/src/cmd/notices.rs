//! `sesshu notices`: extract the targets of a series (a dry run: count, sample, cohorts,
//! difference from the previous run, blocking checks), plan a run, approve it (four-eyes),
//! issue it as PDF files and a print-vendor CSV, resumably.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sesshu_app::jobs::Progress;
use sesshu_app::notices::{PlanRequest, Planned, RecallForm};
use sesshu_app::{Actor, App};
use sesshu_domain::MunicipalityCode;
use sesshu_store::{RecallQuery, RunStatus};

use crate::config::RulesArg;
use crate::config::{Config, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum NoticesCommand {
    /// Who a notice of one series would go to in a period: count, cohorts, a sample with the
    /// reason each is included, the difference from the previous run, and the blocking checks.
    /// Changes nothing.
    Extract {
        #[command(flatten)]
        query: QueryArgs,
        /// Persons shown in the sample
        #[arg(long, default_value_t = 10)]
        sample: usize,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Plan a run from an extraction and (unless approval is required) print it: PDF files of
    /// --per-file documents and a Shift_JIS print-vendor CSV in --out. With --run, issue or
    /// resume a planned run instead.
    Issue(IssueArgs),
    /// Approve a run planned by someone else (four-eyes)
    Approve {
        /// The run's ID as `sesshu notices list` prints it
        run: String,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Cancel a run not yet issued
    Cancel {
        /// The run's ID as `sesshu notices list` prints it
        run: String,
    },
    /// The runs, newest first
    List {
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Re-issue a ticket: a new number, the old one invalid from now on
    ReissueTicket {
        /// The number of the ticket (接種券番号) to replace
        ticket_number: String,
        /// Where to write the new ticket's PDF
        #[arg(long)]
        out: PathBuf,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The series key, as in the schedule engine (hib, mr2, hpv, hz_b, …)
    #[arg(long)]
    series: Option<String>,
    /// Only persons whose next dose is this one
    #[arg(long)]
    dose: Option<u32>,
    /// First day of the period (西暦 or 和暦)
    #[arg(long)]
    from: Option<String>,
    /// Last day of the period
    #[arg(long)]
    to: Option<String>,
    /// opens: the next dose's window opens in the period (a cohort); open: it can be given on
    /// some day of the period and is not given yet (catch-up, unvaccinated)
    #[arg(long, default_value = "opens")]
    basis: String,
    /// 再勧奨: only persons notified in this run whose dose is still not recorded
    #[arg(long)]
    recall_of: Option<String>,
    /// The day the history is read on [default: today in Japan, or the period's start if later]
    #[arg(long)]
    as_of: Option<String>,
    #[command(flatten)]
    rules: RulesArg,
}

#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// Issue (or resume) this planned run instead of extracting anew
    #[arg(long, conflicts_with = "series")]
    run: Option<String>,
    /// Which documents: notice, ticket, form (comma-separated)
    #[arg(long, default_value = "notice", value_delimiter = ',')]
    documents: Vec<String>,
    /// Print protected persons' (支援措置) addresses: only after an authorised decision,
    /// which the audit log records
    #[arg(long)]
    release_protected: bool,
    /// Directory for the files
    #[arg(long)]
    out: Option<PathBuf>,
    /// Documents per PDF file [default: documents.per_file, or 500]; fixed when the run is planned
    #[arg(long, conflicts_with = "run")]
    per_file: Option<usize>,
    /// Print the result as JSON instead of text
    #[arg(long)]
    json: bool,
}

pub async fn run(global: &GlobalArgs, command: NoticesCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let rules = match &command {
        NoticesCommand::Extract { query, .. } => &query.rules,
        NoticesCommand::Issue(args) => &args.query.rules,
        _ => &RulesArg::default(),
    };
    let app = config.app(store, rules)?;
    let me = Actor::operator(Some(tenant));
    match command {
        NoticesCommand::Extract {
            query,
            sample,
            json,
        } => {
            let q = query.resolve()?;
            let extracted = app.extract_recall(&me, tenant, &q, sample).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&extracted.report)?);
            } else {
                print_dry_run(&extracted.report);
            }
            Ok(if extracted.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        NoticesCommand::Issue(args) => issue(&app, &me, tenant, args).await,
        NoticesCommand::Approve { run, json } => {
            let approved = app.approve_notice_run(&me, tenant, &run).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&approved)?);
            } else {
                println!(
                    "{run} を承認しました ({} 人)。`sesshu notices issue --run {run} --out DIR` で発行します",
                    approved.person_count
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        NoticesCommand::Cancel { run } => {
            app.cancel_notice_run(&me, tenant, &run).await?;
            println!("{run} を取り消しました");
            Ok(ExitCode::SUCCESS)
        }
        NoticesCommand::List { json } => {
            let runs = app.notice_runs(&me, tenant).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                for r in runs {
                    println!(
                        "{}  {:<10} {}〜{}  {:>7} 人  {:<18} 作成 {}{}",
                        r.run_id,
                        r.series_key,
                        r.period_from,
                        r.period_to,
                        r.person_count,
                        r.status.as_str(),
                        r.created_by,
                        r.approved_by
                            .map(|a| format!(" 承認 {a}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        NoticesCommand::ReissueTicket {
            ticket_number,
            out,
            json,
        } => {
            let r = app.reissue_ticket(&me, tenant, &ticket_number).await?;
            sesshu_app::printing::write_atomically(&out, &r.pdf)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r.ticket)?);
            } else {
                println!(
                    "接種券 {} を再発行しました: 新しい番号 {} (旧番号は無効)。{}",
                    r.old,
                    r.ticket.ticket_number,
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

impl QueryArgs {
    fn resolve(&self) -> Result<RecallQuery> {
        let (Some(series), Some(from), Some(to)) = (&self.series, &self.from, &self.to) else {
            bail!("--series, --from, --to を指定してください");
        };
        Ok(RecallForm {
            series: series.clone(),
            dose: self.dose,
            from: from.clone(),
            to: to.clone(),
            basis: self.basis.clone(),
            recall_of: self.recall_of.clone(),
            as_of: self.as_of.clone(),
        }
        .query()?)
    }
}

fn print_dry_run(r: &serde_json::Value) {
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!(
        "{} ({}) {}〜{}  基準 {}  履歴の基準日 {}",
        s(&r["series_name"]),
        s(&r["series"]),
        s(&r["period"][0]),
        s(&r["period"][1]),
        s(&r["basis"]),
        s(&r["as_of"])
    );
    println!(
        "対象 {} 人 (うち支援措置 {} 人: 住所を伏せて発行)  調べた人 {}  {} 秒",
        r["count"], r["protected"], r["examined"], r["seconds"]
    );
    if let Some(c) = r["cohorts"].as_array() {
        println!("生まれ月ごと (規則による接種できる期間):");
        for c in c {
            println!(
                "  {} 生まれ  {:>6} 人  {}〜{}",
                s(&c["born"]),
                c["count"],
                s(&c["window"][0]),
                s(&c["window"][1])
            );
        }
    }
    if let Some(x) = r["excluded"].as_object() {
        let parts: Vec<String> = x.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("除外: {}", parts.join("、"));
    }
    if let Some(d) = r["difference"].as_object() {
        println!(
            "前回 {} ({} 人) との違い: 新規 {}、継続 {}、外れた {} {}",
            s(&d["previous_run"]),
            d["previous_count"],
            d["new"],
            d["kept"],
            d["dropped"],
            d["dropped_by_reason"]
        );
    }
    if let Some(sample) = r["sample"].as_array() {
        println!("見本:");
        for p in sample {
            println!(
                "  {} {} {} {}",
                s(&p["address_number"]),
                s(&p["name"]),
                s(&p["birth_date_wareki"]),
                s(&p["reason"])
            );
        }
    }
    match r["checks"]["failures"].as_array() {
        Some(f) if !f.is_empty() => {
            println!("確認: {} 件の問題があります。発行できません:", f.len());
            for x in f {
                println!("  {} {}", s(&x["address_number"]), s(&x["problem"]));
            }
        }
        _ => println!(
            "確認: 死亡・転出・完了・期間外の人、住所を伏せていない支援措置対象者は含まれていません"
        ),
    }
}

async fn issue(
    app: &App,
    me: &Actor,
    tenant: MunicipalityCode,
    args: IssueArgs,
) -> Result<ExitCode> {
    let run = match &args.run {
        Some(id) => id.clone(),
        None => {
            let q = args.query.resolve()?;
            let planned = app
                .plan_recall(
                    me,
                    tenant,
                    &PlanRequest {
                        query: q,
                        documents: args.documents.clone(),
                        release_protected: args.release_protected,
                        per_file: args.per_file,
                    },
                )
                .await?;
            let run = match planned {
                Planned::Blocked(report) => {
                    print_dry_run(&report);
                    bail!("確認で問題が見つかったため、計画しませんでした");
                }
                Planned::Nobody => {
                    println!("対象者がいません: 何も作りませんでした");
                    return Ok(ExitCode::SUCCESS);
                }
                Planned::Run(run) => run,
            };
            if run.status == RunStatus::AwaitingApproval {
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&run)?);
                } else {
                    println!(
                        "{} を計画しました ({} 人)。発行には別の職員の承認が必要です: sesshu notices approve {}",
                        run.run_id, run.person_count, run.run_id
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            run.run_id
        }
    };
    let out = args
        .out
        .clone()
        .context("--out DIR (ファイルを書くディレクトリ) を指定してください")?;
    let progress = Progress::default();
    let bar = progress_bar(args.json);
    let shown = {
        let (bar, progress) = (bar.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                let (done, total) = progress.get();
                bar.set_length(total);
                bar.set_position(done);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    };
    let printed = app
        .print_notice_run(me, tenant, &run, Some(&out), &progress)
        .await;
    shown.abort();
    bar.finish_and_clear();
    let p = printed?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        println!(
            "{} を発行しました: {} 人、{} ページ、ファイル {} 個 (再開で省いたもの {} 個)、{:.1} 秒",
            p.run, p.persons, p.pages, p.files_written, p.files_resumed, p.seconds
        );
        println!("業者向け CSV (Shift_JIS): {}", p.vendor_csv);
        if p.vendor_csv_unmappable_fields > 0 {
            println!(
                "  Shift_JIS にない文字を 〓 に置き換えた欄: {}",
                p.vendor_csv_unmappable_fields
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(hidden: bool) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} 作成中 [{bar:40}] {pos}/{len} 通 残り {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}
