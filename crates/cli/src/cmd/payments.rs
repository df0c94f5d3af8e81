//! `sesshu payments`: the clinics' monthly payment (委託料) — prices and accounts from CSV, a
//! billing month's run, its approval by a second person (`SESSHU_OPERATOR`), the bank's Zengin
//! file, and a clinic's claim reconciled against the register.

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::payments::{PaymentPreparation, Reconciliation, Statement, statements_csv};
use sesshu_app::{Actor, AppError};
use sesshu_domain::dose::BillingMonth;
use sesshu_domain::parse_date;
use sesshu_formats::zengin::Account;

use crate::config::{Config, GlobalArgs, RulesArg};

#[derive(Debug, clap::Subcommand)]
pub enum PaymentsCommand {
    /// Record unit prices from a CSV (ワクチン, 回数, 適用開始日, 適用終了日, 単価)
    Prices {
        /// The price list; a blank 回数 is every dose, 予診のみ the screening of a deferral
        file: PathBuf,
    },
    /// Record institutions and their bank accounts from a CSV (医療機関コード, 医療機関名,
    /// 受取人名カナ, 金融機関コード, 金融機関名カナ, 支店コード, 支店名カナ, 預金種目, 口座番号)
    Institutions {
        /// The institutions' file
        file: PathBuf,
    },
    /// Record the city's own account the transfers leave from (振込依頼人)
    Requester {
        /// 振込依頼人コード (委託者コード) the bank gave the city
        #[arg(long)]
        code: String,
        /// 振込依頼人名 in kana
        #[arg(long)]
        name: String,
        /// 金融機関コード (4 digits)
        #[arg(long)]
        bank: String,
        /// 金融機関名 in kana
        #[arg(long)]
        bank_name: String,
        /// 支店コード (3 digits)
        #[arg(long)]
        branch: String,
        /// 支店名 in kana
        #[arg(long)]
        branch_name: String,
        /// 預金種目: 1 普通, 2 当座, 4 貯蓄, 9 その他
        #[arg(long, default_value = "1")]
        account_type: String,
        /// 口座番号 (up to 7 digits)
        #[arg(long)]
        account: String,
    },
    /// Prepare the payment of a billing month's doses not yet paid (awaits approval)
    Prepare {
        /// 請求年月 (YYYYMM or YYYY-MM)
        billing_month: String,
        /// 振込指定日
        #[arg(long)]
        transfer_date: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the payment runs, newest first
    Runs,
    /// Show a run's statement per institution
    Statement {
        /// The run (P…)
        run_id: String,
        /// Also write it as CSV (UTF-8 with BOM) to this file
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Approve a run (not by the person who prepared it)
    Approve {
        /// The run (P…)
        run_id: String,
    },
    /// Cancel a run whose transfer file was not made; its doses become payable again
    Cancel {
        /// The run (P…)
        run_id: String,
    },
    /// Write the bank's Zengin total-transfer file of an approved run
    Transfer {
        /// The run (P…)
        run_id: String,
        /// Where to write it
        #[arg(long)]
        out: PathBuf,
    },
    /// Reconcile a clinic's claim (医療機関コード, 宛名番号, ワクチン, 回数, 接種日, 請求額) with the
    /// register; exits 3 when any line differs
    Reconcile {
        /// 請求年月 (YYYYMM or YYYY-MM)
        billing_month: String,
        /// The claim
        file: PathBuf,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

fn open(path: &PathBuf) -> Result<File, AppError> {
    File::open(path).map_err(|source| AppError::File {
        path: path.display().to_string(),
        source,
    })
}

fn print_statements(statements: &[Statement]) {
    for s in statements {
        println!("{} {}", s.institution_code, s.institution_name);
        for l in &s.lines {
            println!(
                "  {} {} {} 円 × {} = {} 円",
                l.product, l.dose, l.unit_yen, l.count, l.amount_yen
            );
        }
        println!("  計 {} 件 {} 円", s.doses, s.total_yen);
    }
}

fn print_preparation(p: &PaymentPreparation) {
    print_statements(&p.statements);
    for u in &p.unpaid {
        println!(
            "支払対象外: {} {} 第{}回 {} {} — {}",
            u.address_number,
            u.product,
            u.ordinal,
            u.given_on,
            u.institution_code.as_deref().unwrap_or("-"),
            u.reason
        );
    }
    println!(
        "支払処理 {} を作成しました (承認待ち): {} 件 {} 円、支払対象外 {} 件、支払済み {} 件",
        p.run.run_id,
        p.run.doses,
        p.run.total_yen,
        p.unpaid.len(),
        p.already_paid
    );
}

fn print_reconciliation(r: &Reconciliation) {
    let groups = [
        ("一致", &r.matched),
        ("金額の相違", &r.price_differences),
        ("請求あり・登録なし", &r.billed_not_recorded),
        ("登録あり・請求なし", &r.recorded_not_billed),
        ("支払対象外", &r.not_payable),
    ];
    for (label, lines) in groups {
        for l in lines {
            let at = l.line.map_or_else(String::new, |n| format!("{n}行目 "));
            let yen = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
            println!(
                "[{label}] {at}{} {} {} 第{}回 {} 請求 {} / 登録 {} {}",
                l.institution_code,
                l.address_number,
                l.product,
                l.ordinal,
                l.given_on,
                yen(l.billed_yen),
                yen(l.register_yen),
                l.note
            );
        }
    }
    println!(
        "請求年月 {}: 一致 {}、金額の相違 {}、請求あり・登録なし {}、登録あり・請求なし {}、支払対象外 {}",
        r.billing_month,
        r.matched.len(),
        r.price_differences.len(),
        r.billed_not_recorded.len(),
        r.recorded_not_billed.len(),
        r.not_payable.len()
    );
}

pub async fn run(global: &GlobalArgs, command: PaymentsCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let me = Actor::operator(Some(tenant));
    let app = config.app(store.clone(), &RulesArg::default())?;
    let done: Result<ExitCode, AppError> = async {
        match command {
            PaymentsCommand::Prices { file } => {
                let n = app.import_prices(&me, tenant, open(&file)?).await?;
                println!("単価を {n} 件登録しました");
            }
            PaymentsCommand::Institutions { file } => {
                let n = app
                    .import_payment_institutions(&me, tenant, open(&file)?)
                    .await?;
                println!("医療機関を {n} 件登録しました");
            }
            PaymentsCommand::Requester {
                code,
                name,
                bank,
                bank_name,
                branch,
                branch_name,
                account_type,
                account,
            } => {
                let a = Account::new(
                    &bank,
                    &bank_name,
                    &branch,
                    &branch_name,
                    &account_type,
                    &account,
                )
                .map_err(|e| AppError::Invalid(e.to_string()))?;
                app.set_payment_requester(&me, tenant, &code, &name, &a)
                    .await?;
                println!(
                    "振込依頼人を登録しました: {} {}",
                    a.bank_name, a.branch_name
                );
            }
            PaymentsCommand::Prepare {
                billing_month,
                transfer_date,
                json,
            } => {
                let month = BillingMonth::parse(&billing_month)
                    .map_err(|e| AppError::Invalid(format!("請求年月: {e}")))?;
                let date = parse_date(&transfer_date)
                    .map_err(|e| AppError::Invalid(format!("振込指定日: {e}")))?;
                let p = app.prepare_payment_run(&me, tenant, &month, date).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&p).map_err(internal)?);
                } else {
                    print_preparation(&p);
                }
            }
            PaymentsCommand::Runs => {
                for r in app.payment_runs(&me, tenant).await? {
                    println!(
                        "{} 請求年月 {} 振込 {} {} 件 {} 円 [{}] 作成 {}{}",
                        r.run_id,
                        r.billing_month,
                        r.transfer_date,
                        r.doses,
                        r.total_yen,
                        r.status.label(),
                        r.created_by,
                        r.approved_by
                            .map_or_else(String::new, |a| format!(" 承認 {a}"))
                    );
                }
            }
            PaymentsCommand::Statement { run_id, csv } => {
                let (run, statements) = app.payment_statements(&me, tenant, &run_id).await?;
                print_statements(&statements);
                if let Some(path) = csv {
                    std::fs::write(&path, statements_csv(&run, &statements)).map_err(|source| {
                        AppError::File {
                            path: path.display().to_string(),
                            source,
                        }
                    })?;
                    println!("{} に書きました", path.display());
                }
            }
            PaymentsCommand::Approve { run_id } => {
                let r = app.approve_payment_run(&me, tenant, &run_id).await?;
                println!(
                    "{} を承認しました ({} 件 {} 円)",
                    r.run_id, r.doses, r.total_yen
                );
            }
            PaymentsCommand::Cancel { run_id } => {
                app.cancel_payment_run(&me, tenant, &run_id).await?;
                println!("{run_id} を取り消しました: その接種は次の支払処理の対象になります");
            }
            PaymentsCommand::Transfer { run_id, out } => {
                let (run, file) = app.payment_transfer_file(&me, tenant, &run_id).await?;
                std::fs::write(&out, &file).map_err(|source| AppError::File {
                    path: out.display().to_string(),
                    source,
                })?;
                println!(
                    "{} に振込データを書きました: {} 円、SHA-256 {}",
                    out.display(),
                    run.total_yen,
                    run.file_sha256.unwrap_or_default()
                );
            }
            PaymentsCommand::Reconcile {
                billing_month,
                file,
                json,
            } => {
                let month = BillingMonth::parse(&billing_month)
                    .map_err(|e| AppError::Invalid(format!("請求年月: {e}")))?;
                let r = app
                    .reconcile_claim(&me, tenant, &month, open(&file)?)
                    .await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&r).map_err(internal)?);
                } else {
                    print_reconciliation(&r);
                }
                let differs = !(r.price_differences.is_empty()
                    && r.billed_not_recorded.is_empty()
                    && r.recorded_not_billed.is_empty()
                    && r.not_payable.is_empty());
                if differs {
                    return Ok(ExitCode::from(3));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
    .await;
    store.close().await;
    match done {
        Ok(code) => Ok(code),
        // Every bad row, not only the first three the error's own text carries.
        Err(AppError::Rows(rows)) => {
            for r in &rows {
                eprintln!("{r}");
            }
            eprintln!("{} 件の誤りがあります。何も登録していません", rows.len());
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}
