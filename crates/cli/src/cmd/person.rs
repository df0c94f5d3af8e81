use std::process::ExitCode;

use anyhow::Result;
use sesshu_app::Actor;
use sesshu_app::persons::PersonSearch;
use sesshu_app::view::PersonDetail;

use crate::config::{Config, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum PersonCommand {
    /// Show one person as stored (My Number masked), with guardians and history
    Show {
        /// The person's 宛名番号 (address number)
        address_number: String,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rules: crate::config::RulesArg,
    },
    /// Search by name, kana (prefixes; width-, voicing- and 異体字-insensitive), birth date or
    /// household, one page at a time; the total is always printed
    Search {
        /// 氏名 as written, a prefix (髙橋 finds 高橋)
        #[arg(long)]
        name: Option<String>,
        /// カナ氏名, a prefix
        #[arg(long)]
        kana: Option<String>,
        /// 生年月日 (2024-05-01, R6.5.1, 令和6年5月1日)
        #[arg(long)]
        birth_date: Option<String>,
        /// 世帯番号
        #[arg(long)]
        household: Option<String>,
        /// The order of the result lines
        #[arg(long, value_enum, default_value_t = SortArg::Kana)]
        sort: SortArg,
        /// Where the page starts: the cursor the previous page printed
        #[arg(long)]
        cursor: Option<String>,
        /// Persons per page (at most 500)
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print the page as JSON (with the total and the next cursor)
        #[arg(long)]
        json: bool,
    },
    /// Record a resident's request to stop using their data (利用停止): no notices while it lasts
    Suspend {
        /// The person's 宛名番号 (address number)
        address_number: String,
        /// What the resident asked and why, as recorded at the counter
        #[arg(long)]
        reason: String,
        /// The day of the request (default: today)
        #[arg(long)]
        requested_on: Option<String>,
    },
    /// End the 利用停止 in force (withdrawn by the resident, or found unfounded)
    LiftSuspension {
        /// The person's 宛名番号 (address number)
        address_number: String,
        /// Why (kept with the change and in the audit log)
        #[arg(long)]
        reason: String,
    },
    /// Link two records of one person (記録の統合): the secondary's doses move to the primary
    Link {
        /// The record kept (usually the resident one)
        primary: String,
        /// The record linked into it (a 住登外 record, one entered twice)
        secondary: String,
        /// How the two were found to be one person (kept with the link and in the audit log)
        #[arg(long)]
        reason: String,
    },
    /// Undo a link: the doses it moved go back to the secondary record
    Unlink {
        /// The link's number (統合番号), as `person links` prints it
        link_id: i64,
        /// Why (kept with the link and in the audit log)
        #[arg(long)]
        reason: String,
    },
    /// Every link of the municipality, undone ones too, newest first
    Links,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SortArg {
    /// カナ順
    Kana,
    /// 生年月日順
    BirthDate,
    /// 住所順 (支援措置の方は最後)
    Address,
}

impl From<SortArg> for sesshu_store::PersonSort {
    fn from(s: SortArg) -> Self {
        match s {
            SortArg::Kana => Self::Kana,
            SortArg::BirthDate => Self::BirthDate,
            SortArg::Address => Self::Address,
        }
    }
}

pub async fn run(global: &GlobalArgs, command: PersonCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    match command {
        PersonCommand::Show {
            address_number,
            json,
            rules,
        } => {
            let app = config.app(store.clone(), &rules)?;
            let detail = app
                .read_person(&Actor::operator(Some(tenant)), tenant, &address_number)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                print_detail(&detail);
            }
        }
        PersonCommand::Search {
            name,
            kana,
            birth_date,
            household,
            sort,
            cursor,
            limit,
            json,
        } => {
            let app = config.app(store.clone(), &crate::config::RulesArg::default())?;
            let page = app
                .search_persons(
                    &Actor::operator(Some(tenant)),
                    tenant,
                    &PersonSearch {
                        name,
                        kana,
                        birth_date,
                        household,
                        sort: sort.into(),
                        cursor,
                        limit: Some(limit),
                    },
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                for v in &page.rows {
                    println!(
                        "{:>15}  {}  {}  {}  {}  {}  {}  {}",
                        v.address_number,
                        v.name,
                        v.kana,
                        v.birth_date,
                        v.age,
                        v.sex,
                        v.resident_status,
                        v.address.as_deref().unwrap_or(if v.protected {
                            "(支援措置: 住所非表示)"
                        } else {
                            ""
                        })
                    );
                }
                if page.total == 0 {
                    println!("該当 0件");
                } else {
                    println!("該当 {}件中 {}〜{}件", page.total, page.first, page.last);
                }
                if let Some(next) = &page.next_cursor {
                    println!("続き: --cursor {next}");
                }
            }
        }
        PersonCommand::Suspend {
            address_number,
            reason,
            requested_on,
        } => {
            let app = config.app(store.clone(), &crate::config::RulesArg::default())?;
            let s = app
                .suspend_use(
                    &Actor::operator(Some(tenant)),
                    tenant,
                    &address_number,
                    requested_on.as_deref(),
                    &reason,
                )
                .await?;
            println!(
                "宛名番号 {} を利用停止にしました (請求日 {}、番号 {})。以後の通知から除かれます。",
                s.address_number, s.requested_on, s.suspension_id
            );
        }
        PersonCommand::LiftSuspension {
            address_number,
            reason,
        } => {
            let app = config.app(store.clone(), &crate::config::RulesArg::default())?;
            let s = app
                .lift_suspension(
                    &Actor::operator(Some(tenant)),
                    tenant,
                    &address_number,
                    &reason,
                )
                .await?;
            println!(
                "宛名番号 {} の利用停止 (番号 {}) を解除しました。",
                s.address_number, s.suspension_id
            );
        }
        PersonCommand::Link {
            primary,
            secondary,
            reason,
        } => {
            let app = config.app(store.clone(), &crate::config::RulesArg::default())?;
            let l = app
                .link_persons(
                    &Actor::operator(Some(tenant)),
                    tenant,
                    &primary,
                    &secondary,
                    &reason,
                )
                .await?;
            println!(
                "宛名番号 {} を {} に統合しました (統合番号 {}): 接種記録 {} 件を移し、同じ記録 {} 件は重複として削除しました。",
                l.secondary_address, l.primary_address, l.link_id, l.doses_moved, l.doses_duplicate
            );
        }
        PersonCommand::Unlink { link_id, reason } => {
            let app = config.app(store.clone(), &crate::config::RulesArg::default())?;
            let l = app
                .unlink_persons(&Actor::operator(Some(tenant)), tenant, link_id, &reason)
                .await?;
            println!(
                "統合番号 {} を解除しました: 移した接種記録は宛名番号 {} に戻りました。",
                l.link_id, l.secondary_address
            );
        }
        PersonCommand::Links => {
            let app = config.app(store.clone(), &crate::config::RulesArg::default())?;
            let links = app
                .person_links(&Actor::operator(Some(tenant)), tenant)
                .await?;
            for l in &links {
                let state = match (&l.unlinked_at, &l.unlink_reason) {
                    (Some(at), reason) => {
                        format!("解除 {at} ({})", reason.as_deref().unwrap_or_default())
                    }
                    (None, _) => "統合中".to_owned(),
                };
                println!(
                    "{}\t{} ← {}\t{}\t移動 {} 件 / 重複 {} 件\t{} {}\t{state}",
                    l.link_id,
                    l.primary_address,
                    l.secondary_address,
                    l.reason,
                    l.doses_moved,
                    l.doses_duplicate,
                    l.linked_by,
                    l.linked_at
                );
            }
            println!("統合 {} 件", links.len());
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// A 利用停止 recorded or lifted, or the refusal, in the audit log.
fn print_detail(d: &PersonDetail) {
    let p = &d.person;
    let line = |label: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            println!("  {label:<10} {v}");
        }
    };
    println!(
        "{}  ({})  宛名番号 {}  [{}]",
        p.name, p.kana, p.address_number, p.resident_status
    );
    if p.protected {
        println!("  ※ 支援措置対象者: 住所を印刷・提供しないこと");
    }
    if let Some(s) = &d.use_suspension {
        println!(
            "  ※ 利用停止中 (請求日 {}): 通知の対象外  理由: {}",
            s.requested_on, s.reason
        );
    }
    line(
        "生年月日",
        Some(&format!(
            "{} ({})  {}歳",
            p.birth_date_wareki,
            p.birth_date,
            p.age.unwrap_or(0)
        )),
    );
    line("性別", Some(p.sex));
    line("個人番号", p.my_number.as_deref());
    line("統合宛名", p.integrated_address_number.as_deref());
    line("世帯番号", p.household_number.as_deref());
    line("続柄", p.relationship.as_deref());
    line("郵便番号", p.postal_code.as_deref());
    line("住所", p.address.as_deref());
    line("方書", p.address_detail.as_deref());
    line("小学校区", p.school_district.as_deref());
    line("電話番号", p.phone.as_deref());
    line("異動事由", p.change_reason);
    line("異動日", p.changed_on.as_deref());
    line("転入前住所", p.previous_address.as_deref());
    line("転出先住所", p.next_address.as_deref());
    for g in &d.guardians {
        println!(
            "  保護者(推定) {} {} ({})",
            g.name, g.relationship, g.address_number
        );
    }
    println!("  版 {}  更新 {}", d.version, d.updated_at);
    if !d.doses.is_empty() {
        println!("接種記録:");
    }
    for v in &d.doses {
        let mark = match v.routine {
            Some(true) => "定期",
            Some(false) => "要確認",
            None => "-",
        };
        println!(
            "  {} {:<14} {}回 {:<10} {:<6} {} {}",
            v.given_on,
            v.product_name.as_deref().unwrap_or(&v.product),
            v.ordinal,
            v.stage.as_deref().unwrap_or(""),
            mark,
            v.evaluation,
            v.institution_name.as_deref().unwrap_or("")
        );
    }
    println!("予定 ({} 時点):", d.schedule_as_of);
    for (key, f) in &d.schedule {
        // Only what staff can act on: open now, or opening within a year.
        let soon = f.earliest_date.is_some_and(|e| {
            chrono::NaiveDate::parse_from_str(&d.schedule_as_of, "%Y-%m-%d")
                .is_ok_and(|today| (e - today).num_days() <= 365)
        });
        if f.next_dose.is_none() || !(f.eligible || soon) {
            continue;
        }
        let window = f
            .window
            .map(|[a, b]| format!("{a}〜{b}"))
            .unwrap_or_default();
        println!(
            "  {:<12} {} {:<12} {}  [{}]",
            key,
            if f.eligible {
                "◎接種可"
            } else {
                "  予定 "
            },
            f.next_stage.as_deref().unwrap_or(""),
            f.reason,
            window
        );
    }
    for h in &d.history {
        println!(
            "  履歴 版{}: {} [{}] {} (置換 {})",
            h.version,
            h.person.name,
            h.person.resident_status,
            h.person.address.as_deref().unwrap_or(""),
            h.superseded_at
        );
    }
}
