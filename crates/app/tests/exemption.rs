//! 実費徴収の免除 at the application layer, on both backends (issue 19 part 2, F7): a decision per
//! person and fiscal year with its evidence and validity, refused when a field is wrong or the
//! year is already decided, revoked with a reason and never deleted — and its effect on the
//! clinic's payment: the whole price for an exempt person's B類 dose, the price less the
//! self-payment for anyone else, in the run, its statements and the claim's reconciliation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Cursor;

use chrono::Datelike;

use sesshu_app::doses::DoseChange;
use sesshu_app::exemption::{ExemptionForm, exemptions_csv};
use sesshu_app::{Actor, App, AppError, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::age::FiscalYear;
use sesshu_domain::dose::{BillingMonth, Dose};
use sesshu_domain::{CivilDate, MunicipalityCode, Person, ResidentStatus};
use sesshu_store::Store;

const CLINIC: &str = "1310000001";
/// pcv20 (B類, the routine pneumococcal vaccine since 2026-04): 8,000 yen, of which the person pays 3,000 at the clinic unless exempt.
const PRICES: &str = "ワクチン,回数,適用開始日,適用終了日,単価,自己負担額\n\
pcv20,,2015-04-01,,8000,3000\n";
const INSTITUTIONS: &str = "医療機関コード,医療機関名,受取人名カナ,金融機関コード,金融機関名カナ,支店コード,支店名カナ,預金種目,口座番号\n\
1310000001,山田内科,ヤマダナイカ,0001,ミズホ,123,ホンテン,普通,1234567\n";

struct World {
    app: App,
    store: Store,
    tenant: MunicipalityCode,
    /// Three residents of 65, the age of their routine pneumococcal dose.
    elders: Vec<Person>,
}

fn csv(s: &str) -> Cursor<Vec<u8>> {
    Cursor::new(s.as_bytes().to_vec())
}

fn officer(login: &str) -> Actor {
    common::actor("132098", login, "role:cost_collection")
}

/// The day of the doses: ten days ago, when each elder was 65 and a few months.
fn dose_day() -> CivilDate {
    today_in_japan() - chrono::Days::new(10)
}

async fn world(url: &str) -> World {
    let (store, tenant) = common::machida_and_sapporo(url).await;
    let keyring = Keyring::generate();
    let mut people = sesshu_testkit::town(20, 7);
    for p in people.iter_mut().take(3) {
        let day = today_in_japan() - chrono::Days::new(100);
        p.birth_date = day
            .with_year(day.year() - 65)
            .unwrap_or_else(|| day - chrono::Days::new(65 * 365 + 20));
        p.status = ResidentStatus::Resident;
        p.protected = false;
    }
    let elders = people[..3].to_vec();
    common::import(&store, &keyring, tenant, &people).await;
    World {
        app: common::app(&store, keyring),
        store,
        tenant,
        elders,
    }
}

fn decision(fiscal_year: i32, exempt: bool, ground: &str) -> ExemptionForm {
    ExemptionForm {
        fiscal_year: fiscal_year.to_string(),
        decision: if exempt { "exempt" } else { "not_exempt" }.into(),
        ground: ground.into(),
        evidence: "生活保護受給証明書 (令和8年度)".into(),
        applied_on: (dose_day() - chrono::Days::new(30)).to_string(),
        ..ExemptionForm::default()
    }
}

async fn pneumo_doses(w: &World) {
    let clerk = common::actor("132098", "clerk", "role:clerk");
    for e in &w.elders {
        let mut dose = Dose::given("pcv20", 1, dose_day());
        dose.institution_code = Some(CLINIC.into());
        dose.billing_month = Some(BillingMonth::parse("202611").unwrap());
        w.app
            .add_dose(
                &clerk,
                w.tenant,
                e.address_number.as_str(),
                DoseChange {
                    dose,
                    confirmed: true,
                },
            )
            .await
            .unwrap();
    }
    common::payments_set_up(&w.app, w.tenant, PRICES, INSTITUTIONS).await;
}

#[tokio::test]
async fn an_exempt_persons_dose_is_paid_in_full_and_everyone_elses_less_the_self_payment() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        pneumo_doses(&w).await;
        let fy = FiscalYear::of(dose_day()).0;
        let [e0, e1, e2] = [&w.elders[0], &w.elders[1], &w.elders[2]];
        let me = officer("officer1");

        let exempt = w
            .app
            .record_exemption(
                &me,
                t,
                e0.address_number.as_str(),
                &decision(fy, true, "welfare"),
            )
            .await
            .unwrap();
        assert!(
            exempt.decision.exempt && exempt.decision.in_force(),
            "{name}"
        );
        assert_eq!(exempt.ground_label, "生活保護受給者");
        assert_eq!(
            exempt.decision.valid_to,
            FiscalYear(fy).last_day().unwrap().to_string(),
            "{name}: valid to the year's end"
        );
        // Applied, and the household turned out to pay tax: recorded as 非該当.
        w.app
            .record_exemption(
                &me,
                t,
                e1.address_number.as_str(),
                &decision(fy, false, "tax_exempt"),
            )
            .await
            .unwrap();

        // A second decision for the same year is refused, and the refusal is audited.
        let again = w
            .app
            .record_exemption(
                &me,
                t,
                e0.address_number.as_str(),
                &decision(fy, true, "welfare"),
            )
            .await;
        assert!(
            matches!(&again, Err(AppError::Invalid(m)) if m.contains("既にあります")),
            "{name}: {again:?}"
        );
        let recorded = common::entries(&w.store, t, "exemption.record").await;
        assert_eq!(
            recorded
                .iter()
                .map(|e| e.outcome.as_str())
                .collect::<Vec<_>>(),
            ["ok", "ok", "refused"],
            "{name}"
        );
        assert!(
            recorded
                .iter()
                .all(|e| e.persons_acted.contains(e0.address_number.as_str())
                    || e.persons_acted.contains(e1.address_number.as_str())),
            "{name}: each entry names its person"
        );
        // A missing document and a future application say where.
        let bad = ExemptionForm {
            evidence: String::new(),
            applied_on: (today_in_japan() + chrono::Days::new(3)).to_string(),
            ..decision(fy, true, "welfare")
        };
        let r = w
            .app
            .record_exemption(&me, t, e2.address_number.as_str(), &bad)
            .await;
        let Err(AppError::Fields(fields)) = r else {
            panic!("{name}: {r:?}")
        };
        let named: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
        assert!(
            named.contains(&"evidence") && named.contains(&"applied_on"),
            "{named:?}"
        );
        let nobody = w
            .app
            .record_exemption(&me, t, "999999999", &decision(fy, true, "welfare"))
            .await;
        assert!(matches!(nobody, Err(AppError::NotFound(_))), "{name}");
        assert_eq!(
            w.store
                .exemptions_of_person(t, e2.address_number.as_str())
                .await
                .unwrap(),
            vec![],
            "{name}: nothing recorded for a refused form"
        );

        // The run pays 8,000 for the exempt person, 5,000 for the others.
        let payer = common::actor("132098", "payer1", "role:payments");
        let month = BillingMonth::parse("202611").unwrap();
        let prep = w
            .app
            .prepare_payment_run(&payer, t, &month, common::transfer_day())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((prep.run.doses, prep.run.total_yen), (3, 18_000), "{name}");
        let lines: Vec<(&str, i64, i64)> = prep.statements[0]
            .lines
            .iter()
            .map(|l| (l.dose.as_str(), l.unit_yen, l.count))
            .collect();
        assert_eq!(
            lines,
            vec![("第1回", 5_000, 2), ("第1回 (自己負担免除)", 8_000, 1)],
            "{name}"
        );

        // The clinic billed the whole price for e1, who was found not exempt.
        let claim = format!(
            "医療機関コード,宛名番号,ワクチン,回数,接種日,請求額\n\
             {CLINIC},{},pcv20,1,{d},8000\n{CLINIC},{},pcv20,1,{d},8000\n{CLINIC},{},pcv20,1,{d},5000\n",
            e0.address_number.as_str(),
            e1.address_number.as_str(),
            e2.address_number.as_str(),
            d = dose_day()
        );
        let r = w
            .app
            .reconcile_claim(&payer, t, &month, csv(&claim))
            .await
            .unwrap();
        assert_eq!(
            (r.matched.len(), r.price_differences.len()),
            (2, 1),
            "{name}"
        );
        assert_eq!(
            r.price_differences[0].address_number,
            e1.address_number.as_str()
        );
        assert_eq!(r.price_differences[0].note, "差額 3000 円", "{name}");

        // Revoked with a reason: kept, no longer in force; the run already made keeps what it
        // paid and why.
        let revoked = w
            .app
            .revoke_exemption(&me, t, exempt.decision.exemption_id, "受給廃止の連絡")
            .await
            .unwrap();
        assert!(!revoked.decision.in_force(), "{name}");
        let twice = w
            .app
            .revoke_exemption(&me, t, exempt.decision.exemption_id, "二度目")
            .await;
        assert!(matches!(twice, Err(AppError::Invalid(_))), "{name}");
        let statements = w
            .app
            .payment_statements(&payer, t, &prep.run.run_id)
            .await
            .unwrap();
        assert!(
            statements.1[0]
                .lines
                .iter()
                .any(|l| l.dose == "第1回 (自己負担免除)" && l.unit_yen == 8_000),
            "{name}"
        );
        let year = w.app.exemptions_of_year(&me, t, fy).await.unwrap();
        assert_eq!(year.len(), 2, "{name}");
        let file = exemptions_csv(&year);
        assert!(file.contains("取消 (受給廃止の連絡)"), "{name}: {file}");
        assert!(file.contains("非該当"), "{name}");
        let read = common::entries(&w.store, t, "exemption.read").await;
        assert!(
            read.iter()
                .any(|e| e.persons_shown.contains(e0.address_number.as_str())),
            "{name}: the register's reading names whom it showed"
        );
    }
}

#[tokio::test]
async fn only_the_exemption_officer_of_the_municipality_reads_or_decides() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let fy = FiscalYear::of(dose_day()).0;
        let person = w.elders[0].address_number.as_str();
        let made = w
            .app
            .record_exemption(
                &officer("officer1"),
                t,
                person,
                &decision(fy, true, "welfare"),
            )
            .await
            .unwrap();
        let id = made.decision.exemption_id;
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let payer = common::actor("132098", "payer", "role:payments");
        let sapporo = common::actor("011002", "officer9", "role:cost_collection");
        for who in [&clerk, &payer, &sapporo] {
            let expect = |r: Result<(), AppError>| {
                if who.tenant == Some(t) {
                    matches!(r, Err(AppError::Forbidden(_)))
                } else {
                    matches!(r, Err(AppError::NotFound(_)))
                }
            };
            let form = decision(fy, true, "welfare");
            assert!(
                expect(
                    w.app
                        .record_exemption(who, t, person, &form)
                        .await
                        .map(|_| ())
                ),
                "{name}"
            );
            assert!(expect(
                w.app.revoke_exemption(who, t, id, "理由").await.map(|_| ())
            ));
            assert!(expect(
                w.app.exemptions_of_person(who, t, person).await.map(|_| ())
            ));
            assert!(expect(
                w.app.exemptions_of_year(who, t, fy).await.map(|_| ())
            ));
        }
        // Sapporo's officer in Sapporo does not find Machida's decision.
        let own = MunicipalityCode::parse("011002").unwrap();
        let r = w.app.revoke_exemption(&sapporo, own, id, "理由").await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        assert!(
            w.app
                .exemptions_of_year(&sapporo, own, fy)
                .await
                .unwrap()
                .is_empty()
        );
        let still = w.store.exemption(t, id).await.unwrap().unwrap();
        assert!(still.in_force(), "{name}: nothing changed");
        let refused = common::entries(&w.store, t, "exemption.record").await;
        assert!(refused.iter().any(|e| e.outcome == "refused"), "{name}");
    }
}
