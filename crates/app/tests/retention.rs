//! 保存期間 at the application layer, on both backends (issue 19 part 5, P10): persons past five
//! years after death or move-out are listed (those with an open request or a relief case kept,
//! and counted), approved by a second person, deleted with everything held about them — doses
//! and every earlier version included — and a signed certificate; the audit chain still
//! verifies, and outside a deletion the database still refuses to remove history.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use sesshu_app::relief::ReliefForm;
use sesshu_app::requests::RequestForm;
use sesshu_app::{AppError, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::{ChangeReason, Dose, MunicipalityCode, Person, ResidentStatus};

fn purger(login: &str) -> sesshu_app::Actor {
    common::actor("132098", login, "register.purge")
}

fn ended(p: &mut Person, status: ResidentStatus, years_ago: u64) {
    p.status = status;
    p.change_reason = Some(if status == ResidentStatus::Deceased {
        ChangeReason::Death
    } else {
        ChangeReason::MoveOut
    });
    p.changed_on = Some(today_in_japan() - chrono::Days::new(years_ago * 366));
    p.birth_date = sesshu_testkit::day("1950-05-05");
}

fn disclosure() -> RequestForm {
    RequestForm {
        kind: "disclosure".into(),
        received_on: String::new(),
        requester: "self".into(),
        identity_checked: "運転免許証".into(),
        details: "記録の全部".into(),
    }
}

#[tokio::test]
async fn persons_past_the_period_are_deleted_after_approval_with_a_signed_certificate() {
    for db in sesshu_testkit::backends().await {
        let (store, t) = common::machida_and_sapporo(&db.url).await;
        let name = db.name;
        let keyring = Keyring::generate();
        let mut people = sesshu_testkit::town(40, 29);
        ended(&mut people[0], ResidentStatus::MovedOut, 6);
        ended(&mut people[1], ResidentStatus::Deceased, 7);
        ended(&mut people[2], ResidentStatus::MovedOut, 6);
        ended(&mut people[3], ResidentStatus::MovedOut, 2);
        ended(&mut people[4], ResidentStatus::MovedOut, 6);
        ended(&mut people[5], ResidentStatus::MovedOut, 6);
        common::import(&store, &keyring, t, &people).await;
        let app = common::app(&store, keyring.clone());
        let n = |i: usize| people[i].address_number.as_str().to_owned();
        let long_ago = today_in_japan() - chrono::Days::new(8 * 366);

        // Doses (one corrected, so it has an earlier version) for those to go.
        for i in [0, 1] {
            let id = store
                .record_dose(
                    t,
                    &n(i),
                    Dose::given("pcv20", 1, long_ago),
                    None,
                    Default::default(),
                    "t",
                )
                .await
                .unwrap();
            let mut fixed = Dose::given("pcv20", 1, long_ago);
            fixed.lot = Some("PV-1".into());
            store
                .correct_dose(t, id, fixed, Default::default(), "t", "ロットの訂正")
                .await
                .unwrap();
        }
        // Kept: an open request (people[4]) and a relief case (people[5]).
        let writer = common::actor("132098", "madoguchi", "person.write");
        app.receive_request(&writer, t, &n(4), &disclosure())
            .await
            .unwrap();
        let officer = common::actor("132098", "kyusai", "role:relief");
        app.receive_relief(
            &officer,
            t,
            &n(5),
            &ReliefForm {
                regime: "statutory_b".into(),
                benefit: "medical".into(),
                harm: "発熱".into(),
                onset_on: long_ago.to_string(),
                applicant_relation: "survivor".into(),
                applicant_name: "見本 花子".into(),
                pay_to: "public_account".into(),
                documents: vec!["claim".into()],
                ..ReliefForm::default()
            },
        )
        .await
        .unwrap();

        // From the attacker's side, and a rule shorter than the Act allows.
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let r = app.plan_purge(&clerk, t, 5).await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}: {r:?}");
        let sapporo = common::actor("011002", "kita", "register.purge");
        let r = app.plan_purge(&sapporo, t, 5).await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let r = app.plan_purge(&purger("a"), t, 3).await;
        assert!(
            matches!(r, Err(AppError::Field("years_after_end", _))),
            "{name}"
        );

        let plan = app.plan_purge(&purger("a"), t, 5).await.unwrap();
        let listed: Vec<&str> = plan
            .persons
            .iter()
            .map(|p| p.address_number.as_str())
            .collect();
        let mut expected = vec![n(0), n(1), n(2)];
        expected.sort();
        let mut got: Vec<String> = listed.iter().map(|s| (*s).to_owned()).collect();
        got.sort();
        assert_eq!(
            got, expected,
            "{name}: only those past five years, not kept"
        );
        assert_eq!(plan.kept.get("対応中の開示等の請求"), Some(&1), "{name}");
        assert_eq!(plan.kept.get("健康被害救済の案件"), Some(&1), "{name}");
        assert!(
            plan.persons.iter().all(|p| !p.name.is_empty()),
            "{name}: the approver sees whom"
        );
        let id = plan.run.run_id;

        // Four eyes; nothing happens before approval.
        let r = app.execute_purge(&purger("a"), t, id).await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}: {r:?}");
        let r = app.approve_purge(&purger("a"), t, id).await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}: {r:?}");
        app.approve_purge(&purger("b"), t, id).await.unwrap();
        // A request made after approval keeps that person.
        app.receive_request(&writer, t, &n(2), &disclosure())
            .await
            .unwrap();

        let done = app.execute_purge(&purger("b"), t, id).await.unwrap();
        assert_eq!(done.status, "done", "{name}");
        let certificate: serde_json::Value =
            serde_json::from_str(done.certificate.as_deref().unwrap()).unwrap();
        assert_eq!(certificate["persons"], 2, "{name}: {certificate}");
        assert_eq!(certificate["no_longer_eligible"], 1, "{name}");
        assert_eq!(certificate["by_reason"]["死亡"], 1, "{name}");
        assert_eq!(
            certificate["rows_deleted"]["接種記録"], 2,
            "{name}: {certificate}"
        );
        assert_eq!(
            certificate["rows_deleted"]["接種記録の以前の版"], 2,
            "{name}"
        );
        assert_eq!(certificate["approved"]["by"], "user:b", "{name}");
        let (_, valid) = app.verify_purge(&purger("c"), t, id).await.unwrap();
        assert!(valid, "{name}");
        let altered = done
            .certificate
            .as_deref()
            .unwrap()
            .replace("\"persons\":2", "\"persons\":1");
        assert!(
            !sesshu_crypto::signing::verify(&keyring, &altered, done.signature.as_deref().unwrap()),
            "{name}: an altered certificate fails"
        );
        let text = done.certificate.as_deref().unwrap();
        for i in [0, 1] {
            assert!(
                !text.contains(&n(i)),
                "{name}: the certificate names no one"
            );
        }

        // Gone, every trace in the register; the kept and the recent stay.
        for i in [0, 1] {
            let a = sesshu_domain::AddressNumber::parse(&n(i)).unwrap();
            assert!(store.person(t, &a).await.unwrap().is_none(), "{name}");
            assert!(
                store.person_history(t, &a).await.unwrap().is_empty(),
                "{name}"
            );
            assert!(
                store
                    .doses_of_including_deleted(t, &n(i))
                    .await
                    .unwrap()
                    .is_empty(),
                "{name}"
            );
        }
        for i in [2, 3, 4, 5] {
            let a = sesshu_domain::AddressNumber::parse(&n(i)).unwrap();
            assert!(store.person(t, &a).await.unwrap().is_some(), "{name}");
        }
        let r = app.execute_purge(&purger("b"), t, id).await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}: done once");

        // The audit chain is whole, and it names who was deleted.
        let v = store.verify_audit(Some(&keyring)).await.unwrap();
        assert!(v.broken.is_none(), "{name}: {:?}", v.broken);
        let e = common::entries(&store, t, "register.purge.execute").await;
        assert!(
            e.iter().any(|e| e.outcome == "ok"
                && e.persons_acted.contains(&n(0))
                && e.persons_acted.contains(&n(1))),
            "{name}"
        );

        // Outside a deletion the database still refuses to remove history.
        let kept = store
            .record_dose(
                t,
                &n(3),
                Dose::given("pcv20", 1, long_ago),
                None,
                Default::default(),
                "t",
            )
            .await
            .unwrap();
        store.delete_dose(t, kept, "t", "二重登録").await.unwrap();
        // (person_history's refusal, with versions in it, is store/tests/conformance.rs's.)
        for sql in ["DELETE FROM dose", "DELETE FROM dose_history"] {
            let r = store.raw_execute_for_tests(sql).await;
            assert!(
                format!("{r:?}").contains("append-only")
                    || format!("{r:?}").contains("never removed"),
                "{name}: {sql}: {r:?}"
            );
        }

        // A cancelled plan drops its list; Sapporo sees none of Machida's plans.
        let again = app.plan_purge(&purger("a"), t, 5).await.unwrap();
        let cancelled = app
            .cancel_purge(&purger("a"), t, again.run.run_id)
            .await
            .unwrap();
        assert_eq!(cancelled.status, "cancelled", "{name}");
        assert!(
            store
                .purge_items(t, again.run.run_id)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let r = app
            .purge_plan(&sapporo, MunicipalityCode::parse("011002").unwrap(), id)
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
    }
}
