//! 健康被害救済 at the application layer, on both backends (issue 19 part 1, F8): a case from its
//! receipt through the city's investigation, the 進達 (refused while a document is missing), the
//! state's decision and the payments, its letters as PDFs; a voluntary vaccination's case decided
//! by the city alone; bad input and steps out of order refused; refusals for whoever may not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use sesshu_app::relief::{ReliefForm, StepForm};
use sesshu_app::{AppError, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::{Dose, MunicipalityCode, ResidentStatus};

fn officer(tenant: &str) -> sesshu_app::Actor {
    common::actor(tenant, "kyusai", "role:relief")
}

fn form(dose_id: i64) -> ReliefForm {
    ReliefForm {
        dose_id: dose_id.to_string(),
        regime: "statutory_a".into(),
        benefit: "medical".into(),
        harm: "接種後の急性散在性脳脊髄炎 (ADEM) による入院".into(),
        onset_on: (today_in_japan() - chrono::Days::new(40)).to_string(),
        applicant_relation: "guardian".into(),
        applicant_name: "見本 花子".into(),
        received_on: String::new(),
        pay_to: "public_account".into(),
        account_note: String::new(),
        documents: vec!["claim".into(), "vaccination_proof".into()],
        note: "窓口で受付".into(),
    }
}

fn step(step: &str, done_on: &str, amount: &str, note: &str) -> StepForm {
    StepForm {
        step: step.into(),
        done_on: done_on.into(),
        amount_yen: amount.into(),
        note: note.into(),
    }
}

fn fields(r: Result<impl std::fmt::Debug, AppError>) -> Vec<&'static str> {
    match r {
        Err(AppError::Fields(all)) => all.into_iter().map(|(f, _)| f).collect(),
        Err(AppError::Field(f, _)) => vec![f],
        other => panic!("expected field errors, got {other:?}"),
    }
}

fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .collect()
}

#[tokio::test]
async fn a_case_goes_from_receipt_to_payment_with_its_letters_and_nothing_out_of_order() {
    for db in sesshu_testkit::backends().await {
        let (store, t) = common::machida_and_sapporo(&db.url).await;
        let name = db.name;
        let keyring = Keyring::generate();
        let people = sesshu_testkit::town(30, 41);
        common::import(&store, &keyring, t, &people).await;
        let app = common::app(&store, keyring);
        let child = people
            .iter()
            .find(|p| p.status == ResidentStatus::Resident)
            .unwrap();
        let other = people
            .iter()
            .find(|p| p.address_number != child.address_number)
            .unwrap();
        let a = child.address_number.as_str();
        let given = today_in_japan() - chrono::Days::new(45);
        let dose_id = store
            .record_dose(
                t,
                a,
                Dose::given("mr", 1, given),
                None,
                Default::default(),
                "t",
            )
            .await
            .unwrap();
        let others_dose = store
            .record_dose(
                t,
                other.address_number.as_str(),
                Dose::given("bcg", 1, given),
                None,
                Default::default(),
                "t",
            )
            .await
            .unwrap();
        let me = officer("132098");

        // From the attacker's side.
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let r = app.receive_relief(&clerk, t, a, &form(dose_id)).await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}: {r:?}");
        let sapporo = officer("011002");
        let r = app.receive_relief(&sapporo, t, a, &form(dose_id)).await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");

        // Bad input, every wrong field at once; nothing recorded.
        let mut bad = form(dose_id);
        bad.onset_on = (today_in_japan() + chrono::Days::new(3)).to_string();
        bad.documents = vec!["vaccination_proof".into()];
        bad.benefit = "survivor_pension".into();
        bad.pay_to = "account".into();
        let wrong = fields(app.receive_relief(&me, t, a, &bad).await);
        for f in ["onset_on", "documents", "benefit", "account_note"] {
            assert!(wrong.contains(&f), "{name}: {f} in {wrong:?}");
        }
        let r = app.receive_relief(&me, t, a, &form(others_dose)).await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}: {r:?}");
        assert!(store.relief_cases(t).await.unwrap().is_empty(), "{name}");

        let case = app.receive_relief(&me, t, a, &form(dose_id)).await.unwrap();
        let id = case.case.case_id;
        assert_eq!(case.case.status, "received", "{name}");
        assert_eq!(
            case.next,
            [(
                "investigated".into(),
                "市の調査 (予防接種健康被害調査委員会)".into()
            )]
        );
        assert!(case.due.is_some() && !case.overdue, "{name}");
        let receipt = pdf_text(&app.relief_letter(&me, t, id, "receipt").await.unwrap());
        assert!(
            receipt.contains("受付通知書") && receipt.contains("見本花子様"),
            "{name}: {receipt}"
        );
        let r = app.relief_letter(&me, t, id, "payment").await;
        assert!(
            matches!(r, Err(AppError::Invalid(_))),
            "{name}: not paid yet"
        );

        // Steps in order only, never before the previous one, never in the future.
        let today = today_in_japan();
        let r = app
            .add_relief_step(&me, t, id, &step("approved", "", "", ""))
            .await;
        assert_eq!(fields(r), ["step"], "{name}");
        let r = app
            .add_relief_step(
                &me,
                t,
                id,
                &step(
                    "investigated",
                    &(today + chrono::Days::new(1)).to_string(),
                    "",
                    "",
                ),
            )
            .await;
        assert_eq!(fields(r), ["done_on"], "{name}");
        app.add_relief_step(
            &me,
            t,
            id,
            &step("investigated", "", "", "調査委員会で審議"),
        )
        .await
        .unwrap();
        // The 進達 waits for every document the benefit needs.
        let r = app
            .add_relief_step(&me, t, id, &step("forwarded", "", "", ""))
            .await;
        match r {
            Err(AppError::Fields(all)) => assert!(
                all.iter().any(|(f, m)| *f == "step"
                    && m.contains("診療録の写し・受診証明書")
                    && m.contains("医療費・医療手当の証明書")),
                "{name}: {all:?}"
            ),
            other => panic!("{name}: {other:?}"),
        }
        for d in ["medical_records", "medical_cost"] {
            app.add_relief_document(&me, t, id, d, "").await.unwrap();
        }
        let r = app
            .add_relief_document(&me, t, id, "medical_cost", "")
            .await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}: twice");
        let forwarded = app
            .add_relief_step(&me, t, id, &step("forwarded", "", "", "東京都へ送付"))
            .await
            .unwrap();
        assert!(forwarded.missing_documents.is_empty(), "{name}");
        let letter = pdf_text(&app.relief_letter(&me, t, id, "forwarding").await.unwrap());
        assert!(
            letter.contains("東京都知事様") && letter.contains("進達します"),
            "{name}: {letter}"
        );
        app.add_relief_step(&me, t, id, &step("approved", "", "", "厚生労働大臣の認定"))
            .await
            .unwrap();
        let r = app
            .add_relief_step(&me, t, id, &step("paid", "", "", ""))
            .await;
        assert_eq!(fields(r), ["amount_yen"], "{name}");
        app.add_relief_step(&me, t, id, &step("paid", "", "123,456", ""))
            .await
            .unwrap();
        let paid = app
            .add_relief_step(&me, t, id, &step("paid", "", "20000", "追加の医療費"))
            .await
            .unwrap();
        assert_eq!(paid.paid_yen, 143_456, "{name}");
        let letter = pdf_text(&app.relief_letter(&me, t, id, "payment").await.unwrap());
        assert!(
            letter.contains("20,000円") && letter.contains("公金受取口座"),
            "{name}: {letter}"
        );

        // A stale page cannot record a step over another clerk's.
        let stale = store
            .add_relief_step(
                t,
                id,
                "approved",
                &sesshu_store::NewReliefStep {
                    step: "paid".into(),
                    done_on: today.to_string(),
                    amount_yen: Some(1),
                    note: String::new(),
                },
                "t",
            )
            .await;
        assert!(stale.is_err(), "{name}");

        // Another municipality cannot read the case.
        let sapporo_code = MunicipalityCode::parse("011002").unwrap();
        let r = app.relief_case(&sapporo, sapporo_code, id).await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let r = app.relief_case(&clerk, t, id).await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}");

        // A voluntary vaccination: the city decides, without the state; a denial needs its reason.
        let mut voluntary = form(dose_id);
        voluntary.regime = "voluntary".into();
        voluntary.benefit = "city_compensation".into();
        let v = app.receive_relief(&me, t, a, &voluntary).await.unwrap();
        let vid = v.case.case_id;
        app.add_relief_step(&me, t, vid, &step("investigated", "", "", ""))
            .await
            .unwrap();
        let r = app
            .add_relief_step(&me, t, vid, &step("forwarded", "", "", ""))
            .await;
        assert_eq!(fields(r), ["step"], "{name}: nothing to forward");
        let r = app
            .add_relief_step(&me, t, vid, &step("denied", "", "", ""))
            .await;
        assert_eq!(fields(r), ["note"], "{name}");
        let denied = app
            .add_relief_step(
                &me,
                t,
                vid,
                &step("denied", "", "", "接種との因果関係が認められない"),
            )
            .await
            .unwrap();
        assert!(denied.next.is_empty(), "{name}: a denied case ends");
        let letter = pdf_text(&app.relief_letter(&me, t, vid, "decision").await.unwrap());
        assert!(
            letter.contains("認定されませんでした") && letter.contains("審査請求"),
            "{name}: {letter}"
        );

        // A disclosure to the person lists the cases.
        let asked = sesshu_app::requests::RequestForm {
            kind: "disclosure".into(),
            received_on: String::new(),
            requester: "legal".into(),
            identity_checked: "運転免許証".into(),
            details: "記録の全部".into(),
        };
        let writer = common::actor("132098", "madoguchi", "person.write");
        let req = app.receive_request(&writer, t, a, &asked).await.unwrap();
        let report = pdf_text(
            &app.disclosure_report(&writer, t, req.request.request_id)
                .await
                .unwrap(),
        );
        assert!(
            report.contains("健康被害救済(医療費)") && report.contains("支給"),
            "{name}: {report}"
        );

        // The list, newest first; every step audited naming the person.
        let all = app.relief_cases(&me, t).await.unwrap();
        assert_eq!(
            all.iter().map(|r| r.case.case_id).collect::<Vec<_>>(),
            [vid, id],
            "{name}"
        );
        let e = common::entries(&store, t, "relief.step").await;
        assert!(
            e.iter().filter(|e| e.outcome == "ok").count() >= 7
                && e.iter()
                    .all(|e| e.outcome != "ok" || e.persons_acted.contains(a)),
            "{name}"
        );
        let e = common::entries(&store, t, "relief.receive").await;
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.actor == "user:clerk"),
            "{name}"
        );
        assert!(
            !common::entries(&store, t, "relief.letter").await.is_empty(),
            "{name}"
        );
    }
}
