//! `sesshu relief`: 健康被害救済 (F8) — receive an application, note a document received
//! later, record the next step, list the cases or show one, and write a letter as PDF.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::relief::{ReliefForm, ReliefRow, StepForm};
use sesshu_app::{Actor, AppError};

use crate::config::{Config, GlobalArgs, RulesArg};

#[derive(Debug, clap::Subcommand)]
pub enum ReliefCommand {
    /// Receive an application for relief (a case opens at 受付)
    Receive {
        #[command(flatten)]
        application: Box<Application>,
    },
    /// Note a document received after the application
    Document {
        /// The case's number
        case_id: i64,
        /// The document's code (see `receive --help`)
        document: String,
        /// 受付日; default today
        #[arg(long, default_value = "")]
        received_on: String,
    },
    /// Record the case's next step: investigated, forwarded, approved, denied or paid
    Step {
        /// The case's number
        case_id: i64,
        /// The step
        step: String,
        /// 実施日; default today
        #[arg(long, default_value = "")]
        on: String,
        /// The amount in yen (required when paid)
        #[arg(long, default_value = "")]
        amount: String,
        /// What was done, or the reason (required when denied)
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Every case, newest first, with its state and the target day of its next step
    List,
    /// One case with its documents and steps
    Show {
        /// The case's number
        case_id: i64,
    },
    /// Write a letter of the case as PDF: receipt, forwarding, decision or payment
    Letter {
        /// The case's number
        case_id: i64,
        /// The letter
        letter: String,
        /// Where to write the PDF
        #[arg(long)]
        out: PathBuf,
    },
}

/// An application as the command line takes it.
#[derive(Debug, clap::Args)]
pub struct Application {
    /// The 宛名番号 of the person who was vaccinated
    #[arg(long)]
    person: String,
    /// The 接種記録 number of the dose, when the register holds it
    #[arg(long, default_value = "")]
    dose: String,
    /// statutory_a (A類 定期・臨時), statutory_b (B類 定期) or voluntary (任意: the city's own)
    #[arg(long)]
    regime: String,
    /// medical, medical_allowance, disabled_child_pension, disability_pension,
    /// death_lump_sum, survivor_pension, survivor_lump_sum, funeral or city_compensation
    #[arg(long)]
    benefit: String,
    /// The harm (symptoms, diagnosis)
    #[arg(long)]
    harm: String,
    /// 発症日
    #[arg(long)]
    onset_on: String,
    /// self (本人), guardian (保護者) or survivor (遺族)
    #[arg(long)]
    applicant: String,
    /// The applicant's name
    #[arg(long)]
    applicant_name: String,
    /// 受付日; default today
    #[arg(long, default_value = "")]
    received_on: String,
    /// public_account (公金受取口座) or account (name it in --account)
    #[arg(long, default_value = "public_account")]
    pay_to: String,
    /// The account the applicant names (bank, branch, type, holder)
    #[arg(long, default_value = "")]
    account: String,
    /// Documents received with it, comma-separated codes (claim is required):
    /// claim, vaccination_proof, medical_records, medical_cost, disability_diagnosis,
    /// death_certificate, family_register, funeral_proof
    #[arg(long, value_delimiter = ',')]
    documents: Vec<String>,
    /// 備考
    #[arg(long, default_value = "")]
    note: String,
}

fn print(r: &ReliefRow) {
    let c = &r.case;
    println!(
        "{}\t{}\t{}\t{}\t受付 {}\t{}{}{}",
        c.case_id,
        c.address_number,
        r.regime_label,
        r.benefit_label,
        c.received_on,
        r.status_label,
        r.due
            .as_ref()
            .map_or_else(String::new, |(step, on)| format!("\t次: {step} ({on}まで)")),
        if r.overdue { " 期限超過" } else { "" }
    );
}

pub async fn run(global: &GlobalArgs, command: ReliefCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let me = Actor::operator(Some(tenant));
    let app = config.app(store.clone(), &RulesArg::default())?;
    let done: Result<(), AppError> = async {
        match command {
            ReliefCommand::Receive { application } => {
                let Application {
                    person,
                    dose,
                    regime,
                    benefit,
                    harm,
                    onset_on,
                    applicant,
                    applicant_name,
                    received_on,
                    pay_to,
                    account,
                    documents,
                    note,
                } = *application;
                let form = ReliefForm {
                    dose_id: dose,
                    regime,
                    benefit,
                    harm,
                    onset_on,
                    applicant_relation: applicant,
                    applicant_name,
                    received_on,
                    pay_to,
                    account_note: account,
                    documents,
                    note,
                };
                let r = app.receive_relief(&me, tenant, &person, &form).await?;
                print(&r);
                println!("案件 {} を受け付けました", r.case.case_id);
            }
            ReliefCommand::Document {
                case_id,
                document,
                received_on,
            } => {
                let r = app
                    .add_relief_document(&me, tenant, case_id, &document, &received_on)
                    .await?;
                print(&r);
                if !r.missing_documents.is_empty() {
                    println!("不足している書類: {}", r.missing_documents.join("、"));
                }
            }
            ReliefCommand::Step {
                case_id,
                step,
                on,
                amount,
                note,
            } => {
                let form = StepForm {
                    step,
                    done_on: on,
                    amount_yen: amount,
                    note,
                };
                let r = app.add_relief_step(&me, tenant, case_id, &form).await?;
                print(&r);
            }
            ReliefCommand::List => {
                let rows = app.relief_cases(&me, tenant).await?;
                for r in &rows {
                    print(r);
                }
                println!("{} 件", rows.len());
            }
            ReliefCommand::Show { case_id } => {
                let r = app.relief_case(&me, tenant, case_id).await?;
                print(&r);
                println!("健康被害: {} (発症 {})", r.case.harm, r.case.onset_on);
                println!(
                    "請求者: {} ({}) 支払先: {}",
                    r.case.applicant_name, r.relation_label, r.pay_to_label
                );
                for d in &r.case.documents {
                    println!(
                        "書類\t{}\t{}",
                        ReliefRow::document_label(&d.document),
                        d.received_on
                    );
                }
                for s in &r.case.steps {
                    println!(
                        "手続\t{}\t{}\t{}\t{}\t{}",
                        ReliefRow::step_label(&s.step),
                        s.done_on,
                        s.amount_yen.map_or_else(String::new, |y| format!("{y} 円")),
                        s.note,
                        s.done_by
                    );
                }
                if !r.missing_documents.is_empty() {
                    println!("不足している書類: {}", r.missing_documents.join("、"));
                }
            }
            ReliefCommand::Letter {
                case_id,
                letter,
                out,
            } => {
                let pdf = app.relief_letter(&me, tenant, case_id, &letter).await?;
                std::fs::write(&out, pdf).map_err(|source| AppError::File {
                    path: out.display().to_string(),
                    source,
                })?;
                println!("{} に書きました", out.display());
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    done?;
    Ok(ExitCode::SUCCESS)
}
