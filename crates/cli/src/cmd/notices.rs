//! `sesshu notices`: extract the targets of a series (a dry run: count, sample, cohorts,
//! difference from the previous run, blocking checks), plan a run, approve it (four-eyes),
//! issue it as PDF files and a print-vendor CSV, resumably.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use sesshu_documents::DocumentKind;
use sesshu_documents::model::{Batch, FormRecord, NoticeRecord, TicketRecord};
use sesshu_domain::{AddressNumber, MunicipalityCode, format_wareki, parse_date};
use sesshu_schedule::Engine;
use sesshu_store::{
    Extraction, NewRun, Notice, NoticeRun, Outcome, RecallBasis, RecallQuery, RunPart, RunStatus,
    Store, exclusion,
};

use crate::cmd::audit::cli_event;
use crate::cmd::documents::{
    Printing, addressee, age_text, sha256_of, window_text, write_atomically,
};
use crate::cmd::import::operator;
use crate::cmd::schedule::RulesArg;
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
        #[arg(long)]
        json: bool,
    },
    /// Plan a run from an extraction and (unless approval is required) print it: PDF files of
    /// --per-file documents and a Shift_JIS print-vendor CSV in --out. With --run, issue or
    /// resume a planned run instead.
    Issue(IssueArgs),
    /// Approve a run planned by someone else (four-eyes)
    Approve {
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a run not yet issued
    Cancel { run: String },
    /// The runs, newest first
    List {
        #[arg(long)]
        json: bool,
    },
    /// Re-issue a ticket: a new number, the old one invalid from now on
    ReissueTicket {
        ticket_number: String,
        /// Where to write the new ticket's PDF
        #[arg(long)]
        out: PathBuf,
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
    #[arg(long)]
    json: bool,
}

pub async fn run(global: &GlobalArgs, command: NoticesCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    match command {
        NoticesCommand::Extract {
            query,
            sample,
            json,
        } => {
            let engine = Engine::new(query.rules.load()?);
            let q = query.resolve()?;
            let started = std::time::Instant::now();
            let dry = dry_run(&store, &engine, tenant, &q).await?;
            let seconds = started.elapsed().as_secs_f64();
            let shown = sample_of(&store, tenant, &dry.extraction, sample).await?;
            audit_extract(&store, tenant, &q, &dry, &shown).await?;
            let report = dry.report(&q, &shown, seconds);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_dry_run(&report);
            }
            Ok(if dry.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        NoticesCommand::Issue(args) => issue(&config, &store, tenant, args).await,
        NoticesCommand::Approve { run, json } => {
            let approved = store.approve_notice_run(tenant, &run, &operator()).await;
            let outcome = if approved.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Refused
            };
            store
                .audit(
                    Some(tenant),
                    cli_event(
                        "notice.approve",
                        outcome,
                        vec![],
                        vec![],
                        json!({"run": run}),
                    ),
                )
                .await?;
            let approved = approved?;
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
            store.cancel_notice_run(tenant, &run).await?;
            store
                .audit(
                    Some(tenant),
                    cli_event(
                        "notice.cancel",
                        Outcome::Ok,
                        vec![],
                        vec![],
                        json!({"run": run}),
                    ),
                )
                .await?;
            println!("{run} を取り消しました");
            Ok(ExitCode::SUCCESS)
        }
        NoticesCommand::List { json } => {
            let runs = store.notice_runs(tenant).await?;
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
        } => reissue_ticket(&config, &store, tenant, &ticket_number, &out, json).await,
    }
}

impl QueryArgs {
    fn resolve(&self) -> Result<RecallQuery> {
        let (Some(series), Some(from), Some(to)) = (&self.series, &self.from, &self.to) else {
            bail!("--series, --from, --to を指定してください");
        };
        let from = parse_date(from).context("--from")?;
        let to = parse_date(to).context("--to")?;
        if to < from {
            bail!("--to ({to}) が --from ({from}) より前です");
        }
        let basis = RecallBasis::parse(&self.basis)
            .with_context(|| format!("--basis は opens か open です ('{}')", self.basis))?;
        let as_of = match &self.as_of {
            Some(s) => parse_date(s).context("--as-of")?,
            None => sesshu_web::today_in_japan().max(from),
        };
        Ok(RecallQuery {
            series: series.clone(),
            dose: self.dose,
            from,
            to,
            basis,
            recall_of: self.recall_of.clone(),
            as_of,
        })
    }
}

/// An extraction with its comparison and checks.
struct DryRun {
    extraction: Extraction,
    previous: Option<(NoticeRun, Vec<String>)>,
    failures: Vec<sesshu_store::CheckFailure>,
    /// Seconds of the selection and of the second check, for the report.
    timings: [f64; 2],
}

async fn dry_run(
    store: &Store,
    engine: &Engine,
    tenant: MunicipalityCode,
    q: &RecallQuery,
) -> Result<DryRun> {
    let started = std::time::Instant::now();
    let extraction = store.extract_recall(engine, tenant, q).await?;
    let selected = started.elapsed().as_secs_f64();
    let previous = match store.previous_run(tenant, &q.series).await? {
        Some(run) => {
            let addresses = store
                .notices_of_run(tenant, &run.run_id)
                .await?
                .into_iter()
                .map(|n| n.address_number)
                .collect();
            Some((run, addresses))
        }
        None => None,
    };
    let checking = std::time::Instant::now();
    let failures = store
        .check_recall(
            engine,
            tenant,
            q,
            &extraction
                .members
                .iter()
                .map(sesshu_store::RecallMember::listed)
                .collect::<Vec<_>>(),
            false,
        )
        .await?;
    Ok(DryRun {
        extraction,
        previous,
        failures,
        timings: [selected, checking.elapsed().as_secs_f64()],
    })
}

impl DryRun {
    fn report(
        &self,
        q: &RecallQuery,
        sample: &[serde_json::Value],
        seconds: f64,
    ) -> serde_json::Value {
        let e = &self.extraction;
        let diff = self.previous.as_ref().map(|(run, before)| {
            let now: BTreeSet<&str> = e
                .members
                .iter()
                .map(|m| m.address_number.as_str())
                .collect();
            let before: BTreeSet<&str> = before.iter().map(String::as_str).collect();
            let mut dropped: BTreeMap<&str, u64> = BTreeMap::new();
            for a in before.difference(&now) {
                let why = e
                    .exclusions
                    .get(*a)
                    .copied()
                    .unwrap_or(exclusion::OUTSIDE_AGES);
                *dropped.entry(why).or_default() += 1;
            }
            json!({
                "previous_run": run.run_id,
                "previous_period": [run.period_from, run.period_to],
                "previous_count": before.len(),
                "new": now.difference(&before).count(),
                "kept": now.intersection(&before).count(),
                "dropped": before.difference(&now).count(),
                "dropped_by_reason": dropped,
            })
        });
        json!({
            "series": e.series,
            "series_name": e.series_name,
            "dose": q.dose,
            "period": [q.from, q.to],
            "basis": q.basis,
            "as_of": q.as_of,
            "recall_of": q.recall_of,
            "count": e.members.len(),
            "protected": e.members.iter().filter(|m| m.protected).count(),
            "examined": e.examined,
            "born": e.born,
            "cohorts": e.cohorts,
            "excluded": e.excluded,
            "sample": sample,
            "difference": diff,
            "checks": {
                "passed": self.failures.is_empty(),
                "failures": self.failures,
            },
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "seconds_selection": (self.timings[0] * 1000.0).round() / 1000.0,
            "seconds_check": (self.timings[1] * 1000.0).round() / 1000.0,
        })
    }
}

/// The first `n` members with their names, for staff to read before issuing.
async fn sample_of(
    store: &Store,
    tenant: MunicipalityCode,
    e: &Extraction,
    n: usize,
) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for m in e.members.iter().take(n) {
        let Some(row) = store
            .person(tenant, &AddressNumber::parse(&m.address_number)?)
            .await?
        else {
            continue;
        };
        out.push(json!({
            "address_number": m.address_number,
            "name": row.person.name.to_string(),
            "birth_date": m.birth_date,
            "birth_date_wareki": format_wareki(m.birth_date),
            "protected": m.protected,
            "stage": m.stage,
            "window": m.window,
            "reason": m.reason,
        }));
    }
    Ok(out)
}

async fn audit_extract(
    store: &Store,
    tenant: MunicipalityCode,
    q: &RecallQuery,
    dry: &DryRun,
    shown: &[serde_json::Value],
) -> Result<()> {
    store
        .audit(
            Some(tenant),
            cli_event(
                "notice.extract",
                Outcome::Ok,
                vec![],
                shown
                    .iter()
                    .filter_map(|s| s["address_number"].as_str().map(str::to_owned))
                    .collect(),
                json!({"series": q.series, "dose": q.dose, "from": q.from, "to": q.to,
                       "basis": q.basis, "recall_of": q.recall_of,
                       "count": dry.extraction.members.len()}),
            ),
        )
        .await?;
    Ok(())
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
    config: &Config,
    store: &Store,
    tenant: MunicipalityCode,
    args: IssueArgs,
) -> Result<ExitCode> {
    for d in &args.documents {
        if !matches!(d.as_str(), "notice" | "ticket" | "form") {
            bail!("--documents は notice, ticket, form から選んでください ('{d}')");
        }
    }
    let by = operator();
    let run = match &args.run {
        Some(id) => store
            .notice_run(tenant, id)
            .await?
            .with_context(|| format!("通知 {id} はありません"))?,
        None => {
            let engine = Engine::new(args.query.rules.load()?);
            let q = args.query.resolve()?;
            let dry = dry_run(store, &engine, tenant, &q).await?;
            if !dry.failures.is_empty() {
                let report = dry.report(&q, &[], 0.0);
                print_dry_run(&report);
                bail!("確認で問題が見つかったため、計画しませんでした");
            }
            if dry.extraction.members.is_empty() {
                println!("対象者がいません: 何も作りませんでした");
                return Ok(ExitCode::SUCCESS);
            }
            let mut summary = dry.report(&q, &[], 0.0);
            // Kept with the run: a resumed batch must cut its files exactly as the first attempt.
            summary["per_file"] = json!(
                args.per_file
                    .filter(|n| *n > 0)
                    .or(config.documents.per_file.filter(|n| *n > 0))
                    .unwrap_or(crate::cmd::documents::DEFAULT_PER_FILE)
            );
            let run = store
                .create_notice_run(
                    tenant,
                    NewRun {
                        query: &q,
                        documents: &args.documents,
                        release_protected: args.release_protected,
                        needs_approval: config.documents.approval,
                        summary,
                        members: &dry.extraction.members,
                        by: &by,
                    },
                )
                .await?;
            store
                .audit(
                    Some(tenant),
                    cli_event(
                        "notice.plan",
                        Outcome::Ok,
                        dry.extraction
                            .members
                            .iter()
                            .map(|m| m.address_number.clone())
                            .collect(),
                        vec![],
                        json!({"run": run.run_id, "series": q.series, "from": q.from, "to": q.to,
                               "basis": q.basis, "documents": args.documents,
                               "release_protected": args.release_protected,
                               "count": run.person_count}),
                    ),
                )
                .await?;
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
            run
        }
    };
    let out = args
        .out
        .clone()
        .context("--out DIR (ファイルを書くディレクトリ) を指定してください")?;
    let engine = Engine::new(args.query.rules.load()?);
    print_run(config, store, tenant, &engine, run, &out, args.json, &by).await
}

/// Prints a planned run: the second check, numbers, then each file not yet written.
#[allow(clippy::too_many_arguments)]
async fn print_run(
    config: &Config,
    store: &Store,
    tenant: MunicipalityCode,
    engine: &Engine,
    run: NoticeRun,
    out: &Path,
    json: bool,
    by: &str,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let notices = store.notices_of_run(tenant, &run.run_id).await?;
    if run.status != RunStatus::Issuing {
        // The list was right when planned; people die and move between planning and printing.
        let members: Vec<_> = notices.iter().map(Notice::listed).collect();
        let failures = store
            .check_recall(
                engine,
                tenant,
                &run.query(),
                &members,
                run.release_protected,
            )
            .await?;
        if !failures.is_empty() {
            for f in &failures {
                eprintln!("  {} {}", f.address_number, f.problem);
            }
            store
                .audit(
                    Some(tenant),
                    cli_event(
                        "notice.issue",
                        Outcome::Refused,
                        vec![],
                        vec![],
                        json!({"run": run.run_id, "failures": failures.len()}),
                    ),
                )
                .await?;
            bail!(
                "{} の {} 人に発行できない理由が見つかりました。取り消して (sesshu notices cancel {}) 抽出し直してください",
                run.run_id,
                failures.len(),
                run.run_id
            );
        }
    }
    let printing = Printing::load(config, store, tenant).await?;
    let tickets = run.documents.iter().any(|d| d == "ticket");
    let line = |series: &str, dose: u32, n: u64| printing.number_line(series, dose, n);
    let run = store
        .begin_issue(
            tenant,
            &run.run_id,
            by,
            tickets.then_some(&line as sesshu_store::NumberLine<'_>),
        )
        .await?;
    // Re-read: ticket numbers were assigned.
    let notices = store.notices_of_run(tenant, &run.run_id).await?;
    std::fs::create_dir_all(out).with_context(|| format!("{} を作れません", out.display()))?;
    let per_file = run.summary["per_file"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(printing.per_file);
    let done: BTreeMap<(String, u32), RunPart> = store
        .run_parts(tenant, &run.run_id)
        .await?
        .into_iter()
        .map(|p| ((p.document.clone(), p.part), p))
        .collect();
    let series_name = run.summary["series_name"]
        .as_str()
        .unwrap_or(&run.series_key)
        .to_owned();
    let total = (notices.len() * run.documents.len()) as u64;
    let bar = progress(total, json);
    let (mut pages, mut written, mut skipped) = (0u64, 0u32, 0u32);
    let issued_on = format_wareki(sesshu_web::today_in_japan());
    for document in &run.documents {
        let kind = DocumentKind::parse(document).context("document")?;
        for (i, chunk) in notices.chunks(per_file).enumerate() {
            let part = u32::try_from(i + 1)?;
            let file_name = format!("{}-{}-{part:03}.pdf", run.run_id, document);
            let path = out.join(&file_name);
            if let Some(p) = done.get(&(document.clone(), part))
                && std::fs::read(&path)
                    .map(|b| sha256_of(&b) == p.sha256)
                    .unwrap_or(false)
            {
                // Written and unchanged before an interruption: resume after it.
                bar.inc(chunk.len() as u64);
                pages += p.pages;
                skipped += 1;
                continue;
            }
            let people = people_of(store, tenant, chunk).await?;
            let data = records(
                kind,
                chunk,
                &people,
                &printing,
                &series_name,
                &issued_on,
                run.recall_of.is_some(),
            )?;
            let rendered = printing.typesetter.render(kind, &data)?;
            write_atomically(&path, &rendered.pdf)?;
            let record = RunPart {
                document: document.clone(),
                part,
                file_name,
                pages: rendered.pages as u64,
                sha256: sha256_of(&rendered.pdf),
            };
            if done.contains_key(&(document.clone(), part)) {
                // The file was lost or altered after it was recorded: rewritten, same number.
            } else {
                store.record_run_part(tenant, &run.run_id, &record).await?;
            }
            pages += record.pages;
            written += 1;
            bar.inc(chunk.len() as u64);
        }
    }
    bar.finish_and_clear();
    // The vendor file is written chunk by chunk too, so memory does not grow with the run.
    let vendor = out.join(format!("{}-vendor.csv", run.run_id));
    let mut csv = VendorCsv::create(&vendor)?;
    for chunk in notices.chunks(per_file) {
        let people = people_of(store, tenant, chunk).await?;
        csv.rows(chunk, &people, &series_name)?;
    }
    let unmappable = csv.finish(&vendor)?;
    store.finish_issue(tenant, &run.run_id).await?;
    let seconds = started.elapsed().as_secs_f64();
    store
        .audit(
            Some(tenant),
            cli_event(
                "notice.issue",
                Outcome::Ok,
                notices.iter().map(|n| n.address_number.clone()).collect(),
                vec![],
                json!({"run": run.run_id, "documents": run.documents, "count": notices.len(),
                       "pages": pages, "release_protected": run.release_protected,
                       "out": out.display().to_string()}),
            ),
        )
        .await?;
    let summary = json!({
        "run": run.run_id,
        "series": run.series_key,
        "persons": notices.len(),
        "documents": run.documents,
        "files_written": written,
        "files_resumed": skipped,
        "pages": pages,
        "vendor_csv": vendor.display().to_string(),
        "vendor_csv_unmappable_fields": unmappable,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "pages_per_second": if seconds > 0.0 { (pages as f64 / seconds).round() } else { 0.0 },
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} を発行しました: {} 人、{} ページ、ファイル {} 個 (再開で省いたもの {} 個)、{:.1} 秒",
            run.run_id,
            notices.len(),
            pages,
            written,
            skipped,
            seconds
        );
        println!("業者向け CSV (Shift_JIS): {}", vendor.display());
        if unmappable > 0 {
            println!("  Shift_JIS にない文字を 〓 に置き換えた欄: {unmappable}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn progress(total: u64, hidden: bool) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} 作成中 [{bar:40}] {pos}/{len} 通 残り {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// A notice's person and, for a minor, the guardian the letter is addressed to.
struct Addressed {
    person: sesshu_domain::Person,
    guardian: Option<String>,
}

async fn people_of(
    store: &Store,
    tenant: MunicipalityCode,
    notices: &[Notice],
) -> Result<Vec<Addressed>> {
    let today = sesshu_web::today_in_japan();
    let mut out = Vec::with_capacity(notices.len());
    for n in notices {
        let person = store
            .person(tenant, &AddressNumber::parse(&n.address_number)?)
            .await?
            .with_context(|| format!("{} が宛名にいません", n.address_number))?
            .person;
        let guardian = match &person.household_number {
            Some(h) if sesshu_domain::age_on(person.birth_date, today).unwrap_or(0) < 18 => {
                let household = store.household(tenant, h).await?;
                sesshu_domain::infer_guardians(&person, &household, today)
                    .first()
                    .map(|g| g.name.to_string())
            }
            _ => None,
        };
        out.push(Addressed { person, guardian });
    }
    Ok(out)
}

fn records(
    kind: DocumentKind,
    notices: &[Notice],
    people: &[Addressed],
    printing: &Printing,
    series_name: &str,
    issued_on: &str,
    recall: bool,
) -> Result<serde_json::Value> {
    let l = &printing.letterhead;
    let pairs = notices.iter().zip(people);
    // Decided once, when the run was planned (`--release-protected` clears it).
    let withheld = |n: &Notice| n.address_withheld;
    Ok(match kind {
        DocumentKind::Notice => {
            let r: Vec<NoticeRecord> = pairs
                .map(|(n, a)| NoticeRecord {
                    number: n.notice_number.clone(),
                    issued_on: issued_on.to_owned(),
                    addressee: addressee(
                        &a.person,
                        a.guardian.as_deref().unwrap_or(&a.person.name.to_string()),
                        withheld(n),
                    ),
                    addressed_as: if a.guardian.is_some() {
                        "保護者".into()
                    } else {
                        String::new()
                    },
                    person_name: a.person.name.to_string(),
                    person_kana: a.person.kana.to_string(),
                    birth_date: format_wareki(a.person.birth_date),
                    series_name: series_name.to_owned(),
                    stage: n.stage.clone(),
                    window: window_text(n.window),
                    standard_window: n.standard_window.map(window_text),
                    recall,
                    reissue: false,
                })
                .collect();
            serde_json::to_value(Batch {
                letterhead: l,
                records: &r,
            })?
        }
        DocumentKind::Ticket => {
            let mut r: Vec<TicketRecord> = Vec::with_capacity(notices.len());
            for (n, a) in pairs {
                let number = n.ticket_number.clone().context("接種券番号がありません")?;
                let line = printing
                    .number_line(&n.series_key, n.dose, number.parse()?)
                    .context("番号行")?;
                r.push(TicketRecord {
                    ticket_number: number,
                    number_line_qr_svg: sesshu_documents::qr::svg(&line)?,
                    number_line: line,
                    issued_on: issued_on.to_owned(),
                    addressee: addressee(
                        &a.person,
                        a.guardian.as_deref().unwrap_or(&a.person.name.to_string()),
                        withheld(n),
                    ),
                    person_name: a.person.name.to_string(),
                    person_kana: a.person.kana.to_string(),
                    birth_date: format_wareki(a.person.birth_date),
                    series_name: series_name.to_owned(),
                    stage: n.stage.clone(),
                    valid_from: format_wareki(n.window[0]),
                    valid_until: format_wareki(n.window[1]),
                    reissue: false,
                });
            }
            serde_json::to_value(Batch {
                letterhead: l,
                records: &r,
            })?
        }
        DocumentKind::Form => {
            let today = sesshu_web::today_in_japan();
            let r: Vec<FormRecord> = pairs
                .map(|(n, a)| FormRecord {
                    number: n.notice_number.clone(),
                    person_name: a.person.name.to_string(),
                    person_kana: a.person.kana.to_string(),
                    birth_date: format_wareki(a.person.birth_date),
                    age: age_text(a.person.birth_date, today.max(n.window[0])),
                    sex: a.person.sex.label().into(),
                    address: if withheld(n) {
                        String::new()
                    } else {
                        [
                            a.person.address.as_deref(),
                            a.person.address_detail.as_deref(),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ")
                    },
                    guardian: a.guardian.clone().unwrap_or_default(),
                    series_name: series_name.to_owned(),
                    stage: n.stage.clone(),
                    ticket_number: n.ticket_number.clone(),
                })
                .collect();
            serde_json::to_value(Batch {
                letterhead: l,
                records: &r,
            })?
        }
        DocumentKind::Certificate => bail!("証明書は notices では作りません"),
    })
}

/// The print vendor's file: Shift_JIS, one row per notice, the same data as the PDFs and never
/// the My Number. A character Shift_JIS lacks becomes 〓 (the customary mark), and the fields
/// that needed it are counted.
struct VendorCsv {
    writer: csv::Writer<std::fs::File>,
    partial: PathBuf,
    unmappable: usize,
}

impl VendorCsv {
    /// Writes to `<path>.part`, renamed by [`Self::finish`].
    fn create(path: &Path) -> Result<Self> {
        let partial = path.with_extension("part");
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("{} に書けません", partial.display()))?;
        let mut me = Self {
            writer: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(file),
            partial,
            unmappable: 0,
        };
        me.push(&[
            "通知番号",
            "宛名番号",
            "郵便番号",
            "住所",
            "方書",
            "宛名",
            "対象者氏名",
            "対象者カナ",
            "生年月日",
            "予防接種",
            "接種回",
            "接種期間開始",
            "接種期間終了",
            "接種券番号",
            "住所非表示",
        ])?;
        Ok(me)
    }

    fn push<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<()> {
        let mut record = Vec::with_capacity(fields.len());
        for f in fields {
            let f = f.as_ref();
            let (encoded, _, bad) = encoding_rs::SHIFT_JIS.encode(f);
            if !bad {
                record.push(encoded.into_owned());
                continue;
            }
            self.unmappable += 1;
            let fixed: String = f
                .chars()
                .map(|c| {
                    let mut b = [0u8; 4];
                    let (_, _, bad) = encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut b));
                    if bad { '〓' } else { c }
                })
                .collect();
            record.push(encoding_rs::SHIFT_JIS.encode(&fixed).0.into_owned());
        }
        self.writer.write_record(&record)?;
        Ok(())
    }

    fn rows(&mut self, notices: &[Notice], people: &[Addressed], series_name: &str) -> Result<()> {
        for (n, a) in notices.iter().zip(people) {
            let withheld = n.address_withheld;
            let p = &a.person;
            let hide = |v: Option<&str>| {
                if withheld {
                    String::new()
                } else {
                    v.unwrap_or("").to_owned()
                }
            };
            let row = [
                n.notice_number.clone(),
                n.address_number.clone(),
                hide(p.postal_code.as_ref().map(|c| c.digits())),
                hide(p.address.as_deref()),
                hide(p.address_detail.as_deref()),
                a.guardian.clone().unwrap_or_else(|| p.name.to_string()),
                p.name.to_string(),
                p.kana.to_string(),
                format_wareki(p.birth_date),
                series_name.to_owned(),
                n.stage.clone(),
                n.window[0].to_string(),
                n.window[1].to_string(),
                n.ticket_number.clone().unwrap_or_default(),
                if withheld { "1".into() } else { "0".into() },
            ];
            self.push(&row)?;
        }
        Ok(())
    }

    fn finish(mut self, path: &Path) -> Result<usize> {
        self.writer.flush()?;
        std::fs::rename(&self.partial, path)
            .with_context(|| format!("{} に書けません", path.display()))?;
        Ok(self.unmappable)
    }
}

async fn reissue_ticket(
    config: &Config,
    store: &Store,
    tenant: MunicipalityCode,
    ticket_number: &str,
    out: &Path,
    json: bool,
) -> Result<ExitCode> {
    let printing = Printing::load(config, store, tenant).await?;
    let by = operator();
    let line = |series: &str, dose: u32, n: u64| printing.number_line(series, dose, n);
    let ticket = store
        .reissue_ticket(tenant, ticket_number, &by, &line)
        .await?;
    let person = store
        .person(tenant, &AddressNumber::parse(&ticket.address_number)?)
        .await?
        .context("宛名にいません")?
        .person;
    let series_name = Engine::new(RulesArg::default().load()?)
        .rules()
        .series
        .iter()
        .find(|s| s.key == ticket.series_key)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| ticket.series_key.clone());
    // The stage as the notice named it (初回1回目, 2期), from the notice the first ticket came with.
    let stage = store
        .notices_of_person(tenant, &ticket.address_number)
        .await?
        .into_iter()
        .find(|n| n.ticket_number.as_deref() == Some(ticket_number))
        .map(|n| n.stage)
        .unwrap_or_else(|| format!("{}回目", ticket.dose));
    let record = TicketRecord {
        ticket_number: ticket.ticket_number.clone(),
        number_line_qr_svg: sesshu_documents::qr::svg(&ticket.number_line)?,
        number_line: ticket.number_line.clone(),
        issued_on: format_wareki(sesshu_web::today_in_japan()),
        addressee: addressee(&person, &person.name.to_string(), person.protected),
        person_name: person.name.to_string(),
        person_kana: person.kana.to_string(),
        birth_date: format_wareki(person.birth_date),
        series_name,
        stage,
        valid_from: format_wareki(ticket.valid_from),
        valid_until: format_wareki(ticket.valid_until),
        reissue: true,
    };
    let data = serde_json::to_value(Batch {
        letterhead: &printing.letterhead,
        records: &[record],
    })?;
    let rendered = printing.typesetter.render(DocumentKind::Ticket, &data)?;
    write_atomically(out, &rendered.pdf)?;
    store
        .audit(
            Some(tenant),
            cli_event(
                "ticket.reissue",
                Outcome::Ok,
                vec![ticket.address_number.clone()],
                vec![],
                json!({"old": ticket_number, "new": ticket.ticket_number}),
            ),
        )
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&ticket)?);
    } else {
        println!(
            "接種券 {} を再発行しました: 新しい番号 {} (旧番号は無効)。{}",
            ticket_number,
            ticket.ticket_number,
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
