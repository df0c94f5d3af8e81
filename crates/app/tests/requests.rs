//! 開示・訂正・利用停止の請求 at the application layer, on both backends (issue 19 part 3, F13):
//! the register with its deadlines (extended once, at most 30 days, with the reason), answers
//! that fit the kind, the disclosure report as a PDF with everything held about the person and
//! nothing about anyone else (nor the My Number), and refusals for whoever may not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use sesshu_app::requests::RequestForm;
use sesshu_app::{AppError, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::{Dose, MunicipalityCode, Person};

fn officer() -> sesshu_app::Actor {
    common::actor("132098", "tanaka", "person.write")
}

fn form(kind: &str) -> RequestForm {
    RequestForm {
        kind: kind.into(),
        received_on: String::new(),
        requester: "legal".into(),
        identity_checked: "運転免許証、戸籍謄本 (親権の確認)".into(),
        details: "子の予防接種記録の全部".into(),
    }
}

/// A child of the town with someone else in the household (a guardian the report must not name).
fn child_with_household(people: &[Person]) -> (Person, Vec<Person>) {
    let today = today_in_japan();
    for p in people {
        let young = sesshu_domain::age::date_reaching_age(p.birth_date, 15)
            .is_some_and(|fifteen| fifteen > today);
        let others: Vec<Person> = people
            .iter()
            .filter(|o| {
                o.address_number != p.address_number
                    && o.household_number.is_some()
                    && o.household_number == p.household_number
            })
            .cloned()
            .collect();
        if young && !others.is_empty() && p.status == sesshu_domain::ResidentStatus::Resident {
            return (p.clone(), others);
        }
    }
    panic!("the town has no child in a household")
}

fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_disclosure_is_registered_answered_in_time_and_its_report_holds_only_the_person() {
    for db in sesshu_testkit::backends().await {
        let (store, t) = common::machida_and_sapporo(&db.url).await;
        let name = db.name;
        let keyring = Keyring::generate();
        let people = sesshu_testkit::town(60, 5);
        common::import(&store, &keyring, t, &people).await;
        let app = common::app(&store, keyring);
        let (child, household) = child_with_household(&people);
        let a = child.address_number.as_str();
        let me = officer();

        // A dose, then corrected: the report shows the dose and its earlier version.
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let day = child.birth_date + chrono::Days::new(70);
        let dose = Dose::given("bcg", 1, day);
        app.add_dose(
            &clerk,
            t,
            a,
            sesshu_app::doses::DoseChange {
                dose: dose.clone(),
                confirmed: true,
            },
        )
        .await
        .unwrap();
        let recorded = store.doses_of(t, a).await.unwrap().remove(0);
        let mut fixed = dose;
        fixed.lot = Some("KH123".into());
        store
            .correct_dose(
                t,
                recorded.dose_id,
                fixed,
                Default::default(),
                "t",
                "ロット番号の訂正",
            )
            .await
            .unwrap();

        // A dose recorded twice and deleted: the report shows it deleted, with the reason.
        let twice = store
            .record_dose(
                t,
                child.address_number.as_str(),
                Dose::given("hepb", 1, day),
                None,
                Default::default(),
                "t",
            )
            .await
            .unwrap();
        store.delete_dose(t, twice, "t", "二重登録").await.unwrap();

        // Bad input: no identity document, a future receipt; nothing recorded.
        let bad = RequestForm {
            identity_checked: " ".into(),
            received_on: (today_in_japan() + chrono::Days::new(1)).to_string(),
            ..form("disclosure")
        };
        let r = app.receive_request(&me, t, a, &bad).await;
        let Err(AppError::Fields(f)) = r else {
            panic!("{name}: {r:?}")
        };
        let fields: Vec<&str> = f.iter().map(|(k, _)| *k).collect();
        assert_eq!(fields, ["identity_checked", "received_on"], "{name}");
        assert!(store.subject_requests(t, true).await.unwrap().is_empty());

        let req = app
            .receive_request(&me, t, a, &form("disclosure"))
            .await
            .unwrap();
        let id = req.request.request_id;
        assert_eq!(
            req.request.due_on,
            (today_in_japan() + chrono::Days::new(30)).to_string(),
            "{name}: due 30 days after receipt"
        );
        assert!(!req.overdue);
        // A request received 40 days ago and still open is overdue in the register.
        let old = RequestForm {
            received_on: (today_in_japan() - chrono::Days::new(40)).to_string(),
            ..form("correction")
        };
        let late = app.receive_request(&me, t, a, &old).await.unwrap();
        let register = app.request_register(&me, t, false).await.unwrap();
        assert_eq!(register.len(), 2, "{name}");
        assert_eq!(
            register[0].request.request_id, late.request.request_id,
            "{name}: by deadline"
        );
        assert!(register[0].overdue && !register[1].overdue, "{name}");

        // Extended once, by at most 30 days, with a reason.
        let due = chrono::NaiveDate::parse_from_str(&req.request.due_on, "%Y-%m-%d").unwrap();
        let too_far = (due + chrono::Days::new(31)).to_string();
        let r = app.extend_request(&me, t, id, &too_far, "資料の確認").await;
        assert!(matches!(r, Err(AppError::Fields(_))), "{name}: {r:?}");
        let to = (due + chrono::Days::new(30)).to_string();
        let extended = app
            .extend_request(&me, t, id, &to, "資料の確認に時間を要するため")
            .await
            .unwrap();
        assert_eq!(extended.request.deadline(), to, "{name}");
        let twice = app.extend_request(&me, t, id, &to, "再度").await;
        assert!(matches!(twice, Err(AppError::Invalid(_))), "{name}");

        // The report: the person and the dose with its earlier version; the guardians counted,
        // never named; the My Number said to be held, not printed.
        let pdf = app.disclosure_report(&me, t, id).await.unwrap();
        assert!(pdf.starts_with(b"%PDF"), "{name}");
        let text = pdf_text(&pdf);
        let flat: String = text.split_whitespace().collect();
        assert!(flat.contains("保有個人情報の開示"), "{name}: {text}");
        assert!(
            flat.contains(&child.name.to_string().replace([' ', '　'], "")),
            "{name}: {text}"
        );
        assert!(flat.contains("BCG"), "{name}: {text}");
        assert!(
            flat.contains("ロット番号の訂正") && flat.contains("KH123"),
            "{name}: the correction, its reason and the corrected value: {text}"
        );
        assert!(flat.contains("記載しません"), "{name}: {text}");
        assert!(
            flat.contains("削除") && flat.contains("二重登録"),
            "{name}: a deleted dose, and why: {text}"
        );
        for other in &household {
            let other_name: String = other.name.to_string().split_whitespace().collect();
            assert!(
                !flat.contains(&other_name),
                "{name}: {other_name} of the household is in the report"
            );
        }
        assert!(!sesshu_testkit::leaks_my_number(&text), "{name}");
        let e = common::entries(&store, t, "request.disclosure").await;
        assert!(
            e.iter().any(|e| e.persons_shown.contains(a)),
            "{name}: the report's reading names the person"
        );
        // A correction request has no disclosure report.
        let r = app.disclosure_report(&me, t, late.request.request_id).await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}");

        // Answered with an outcome its kind allows; then closed for good.
        let r = app
            .answer_request(&me, t, id, "corrected", "訂正しました", "")
            .await;
        assert!(matches!(r, Err(AppError::Fields(_))), "{name}: {r:?}");
        let answered = app
            .answer_request(&me, t, id, "full", "全部を開示しました (写しの交付)", "")
            .await
            .unwrap();
        assert_eq!(
            answered.outcome_label.as_deref(),
            Some("全部開示"),
            "{name}"
        );
        let again = app.answer_request(&me, t, id, "full", "二度目", "").await;
        assert!(matches!(again, Err(AppError::Invalid(_))), "{name}");
        let all = app.request_register(&me, t, true).await.unwrap();
        assert_eq!(all.len(), 2, "{name}");
        assert_eq!(app.request_register(&me, t, false).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn only_a_holder_of_person_write_in_the_municipality_handles_requests() {
    for db in sesshu_testkit::backends().await {
        let (store, t) = common::machida_and_sapporo(&db.url).await;
        let name = db.name;
        let keyring = Keyring::generate();
        let people = sesshu_testkit::town(20, 6);
        common::import(&store, &keyring, t, &people).await;
        let app = common::app(&store, keyring);
        let a = people[0].address_number.as_str();
        let id = app
            .receive_request(&officer(), t, a, &form("disclosure"))
            .await
            .unwrap()
            .request
            .request_id;
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let sapporo = common::actor("011002", "kita", "person.write");
        for who in [&clerk, &sapporo] {
            let expect = |r: Result<(), AppError>| {
                if who.tenant == Some(t) {
                    matches!(r, Err(AppError::Forbidden(_)))
                } else {
                    matches!(r, Err(AppError::NotFound(_)))
                }
            };
            let f = form("disclosure");
            assert!(
                expect(app.receive_request(who, t, a, &f).await.map(|_| ())),
                "{name}"
            );
            assert!(expect(app.request_register(who, t, true).await.map(|_| ())));
            assert!(expect(app.disclosure_report(who, t, id).await.map(|_| ())));
            assert!(expect(
                app.answer_request(who, t, id, "full", "x", "")
                    .await
                    .map(|_| ())
            ));
            assert!(expect(
                app.extend_request(who, t, id, "2099-01-01", "x")
                    .await
                    .map(|_| ())
            ));
        }
        // Sapporo's officer in Sapporo does not find Machida's request.
        let own = MunicipalityCode::parse("011002").unwrap();
        let r = app.disclosure_report(&sapporo, own, id).await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let r = app.answer_request(&sapporo, own, id, "full", "x", "").await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}");
        assert!(
            store
                .subject_request(t, id)
                .await
                .unwrap()
                .unwrap()
                .is_open()
        );
        let refused = common::entries(&store, t, "request.receive").await;
        assert!(refused.iter().any(|e| e.outcome == "refused"), "{name}");
    }
}
