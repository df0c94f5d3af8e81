//! 記録の統合 at the application layer, on both backends (issue 19 part 4, F1): a 住登外 record
//! of a resident is found, linked with the reason, its doses follow to the resident record (one
//! the resident already held is kept once), recall reads one history, the link is undone exactly,
//! and whoever may not is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use sesshu_app::{AppError, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::{AddressNumber, Dose, MunicipalityCode, Person, ResidentStatus};

/// A clerk who may also change persons' records (person.write), as linking needs.
fn clerk(tenant: &str) -> sesshu_app::Actor {
    let mut a = common::actor(tenant, "tanaka", "role:clerk");
    a.permissions
        .insert(sesshu_domain::access::Permission::PersonWrite);
    a
}

/// Another record of `p`: same kana, birth date and sex, another address number.
fn twin(p: &Person, number: &str, status: ResidentStatus) -> Person {
    let mut t = p.clone();
    t.address_number = AddressNumber::parse(number).unwrap();
    t.integrated_address_number = None;
    t.my_number = None;
    t.household_number = None;
    t.status = status;
    t
}

#[tokio::test]
async fn a_non_resident_record_is_linked_its_doses_follow_and_the_link_is_undone_exactly() {
    for db in sesshu_testkit::backends().await {
        let (store, t) = common::machida_and_sapporo(&db.url).await;
        let name = db.name;
        let keyring = Keyring::generate();
        let today = today_in_japan();
        let mut people = sesshu_testkit::town(40, 23);
        // Two infants of about four months, due for Hib's first dose.
        for (i, p) in people.iter_mut().take(2).enumerate() {
            p.birth_date = today - chrono::Days::new(120 + i as u64);
            p.status = ResidentStatus::Resident;
            p.protected = false;
        }
        let infant = people[0].clone();
        let other = people[1].clone();
        // The infant's 住登外 record, made when a clinic reported a dose before the move, and
        // the other infant entered a second time as a resident.
        let outsider = twin(&infant, "990001", ResidentStatus::NonResident);
        let again = twin(&other, "990002", ResidentStatus::Resident);
        people.push(outsider.clone());
        people.push(again.clone());
        common::import(&store, &keyring, t, &people).await;
        let app = common::app(&store, keyring);
        let me = clerk("132098");
        let a = infant.address_number.as_str();

        // Hib 1 and BCG were recorded on the 住登外 record; BCG was also recorded on the
        // resident one (the same dose twice).
        let hib = Dose::given("hib", 1, infant.birth_date + chrono::Days::new(65));
        let bcg = Dose::given("bcg", 1, infant.birth_date + chrono::Days::new(70));
        for (on, dose) in [("990001", &hib), ("990001", &bcg), (a, &bcg)] {
            app.add_dose(
                &me,
                t,
                on,
                sesshu_app::doses::DoseChange {
                    dose: dose.clone(),
                    confirmed: true,
                },
            )
            .await
            .unwrap();
        }
        let before = app
            .extract_recall(&me, t, &common::hib_first_dose(), 100)
            .await
            .unwrap();
        let listed = |x: &sesshu_app::notices::Extracted, who: &str| {
            x.report["checks"]["passed"] == true && store_members(x).iter().any(|m| m == who)
        };
        assert!(
            listed(&before, a),
            "{name}: without the link the infant is due for Hib 1: {}",
            before.report
        );

        let groups = app.duplicate_candidates(&me, t).await.unwrap();
        assert!(
            groups
                .iter()
                .any(|g| g.persons.iter().any(|p| p.address_number == "990001")),
            "{name}"
        );

        // From the attacker's side, and bad input.
        let viewer = common::actor("132098", "mita", "role:viewer");
        let r = app.link_persons(&viewer, t, a, "990001", "同一人物").await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}: {r:?}");
        let sapporo = clerk("011002");
        let r = app.link_persons(&sapporo, t, a, "990001", "同一人物").await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let sapporo_code = MunicipalityCode::parse("011002").unwrap();
        let r = app
            .link_persons(&sapporo, sapporo_code, a, "990001", "同一人物")
            .await;
        assert!(
            matches!(r, Err(AppError::NotFound(_))),
            "{name}: Machida's records are not in Sapporo: {r:?}"
        );
        let r = app.link_persons(&me, t, a, "990001", "  ").await;
        assert!(matches!(r, Err(AppError::Field("reason", _))), "{name}");
        let r = app.link_persons(&me, t, a, a, "同一人物").await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}: {r:?}");
        assert_eq!(store.doses_of(t, "990001").await.unwrap().len(), 2);

        let link = app
            .link_persons(&me, t, a, "990001", "転入前の接種で作った住登外の記録")
            .await
            .unwrap();
        assert_eq!((link.doses_moved, link.doses_duplicate), (1, 1), "{name}");
        let held: Vec<(String, u32)> = store
            .doses_of(t, a)
            .await
            .unwrap()
            .iter()
            .map(|d| (d.dose.product.clone(), d.dose.ordinal))
            .collect();
        assert_eq!(
            held,
            [("hib".to_owned(), 1), ("bcg".to_owned(), 1)],
            "{name}: one history, BCG once"
        );
        assert!(store.doses_of(t, "990001").await.unwrap().is_empty());
        let moved = store
            .doses_of(t, a)
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.dose.product == "hib")
            .unwrap();
        let versions = store.dose_versions(t, moved.dose_id).await.unwrap();
        assert_eq!(versions[0].row.address_number, "990001", "{name}");
        assert!(
            moved
                .change_reason
                .as_deref()
                .is_some_and(|r| r.contains("記録の統合")),
            "{name}: {:?}",
            moved.change_reason
        );

        // The person's page shows the link; recall reads one history.
        let d = app.read_person(&me, t, a).await.unwrap();
        assert_eq!(d.links.len(), 1, "{name}");
        assert!(d.doses.iter().any(|x| x.product == "hib"), "{name}");
        let after = app
            .extract_recall(&me, t, &common::hib_first_dose(), 100)
            .await
            .unwrap();
        assert!(
            !listed(&after, a),
            "{name}: the moved Hib 1 counts for the infant: {}",
            after.report
        );
        assert!(
            app.duplicate_candidates(&me, t)
                .await
                .unwrap()
                .iter()
                .all(|g| g.persons.iter().all(|p| p.address_number != "990001")),
            "{name}: a linked pair is settled"
        );

        // A disclosure to the person names the link.
        let asked = sesshu_app::requests::RequestForm {
            kind: "disclosure".into(),
            received_on: String::new(),
            requester: "legal".into(),
            identity_checked: "運転免許証".into(),
            details: "子の記録の全部".into(),
        };
        let req = app.receive_request(&me, t, a, &asked).await.unwrap();
        let pdf = app
            .disclosure_report(&me, t, req.request.request_id)
            .await
            .unwrap();
        let flat: String = pdf_text(&pdf).split_whitespace().collect();
        assert!(
            flat.contains("記録の統合") && flat.contains("宛名番号990001をこの記録に統合"),
            "{name}: {flat}"
        );

        // The same pair again, either way round, is refused; so is a chain through the secondary.
        for (p, s) in [(a, "990001"), ("990001", a)] {
            let r = app.link_persons(&me, t, p, s, "二度目").await;
            assert!(matches!(r, Err(AppError::Invalid(_))), "{name}: {r:?}");
        }
        let r = app
            .link_persons(&me, t, other.address_number.as_str(), "990001", "連鎖")
            .await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}: {r:?}");

        // A resident record entered twice: linked, the second gets no notice.
        app.link_persons(
            &me,
            t,
            other.address_number.as_str(),
            again.address_number.as_str(),
            "二重登録",
        )
        .await
        .unwrap();
        let x = app
            .extract_recall(&me, t, &common::hib_first_dose(), 100)
            .await
            .unwrap();
        assert_eq!(
            x.report["excluded"]["他の記録に統合"], 1,
            "{name}: {}",
            x.report
        );
        assert!(listed(&x, other.address_number.as_str()), "{name}");

        // Audited, naming both records; the refusals too.
        let e = common::entries(&store, t, "person.link").await;
        assert!(
            e.iter().any(|e| e.outcome == "ok"
                && e.persons_acted.contains(a)
                && e.persons_acted.contains("990001")),
            "{name}"
        );
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.actor == "user:mita"),
            "{name}"
        );
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.detail.contains("既に統合されています")),
            "{name}"
        );

        // Undone: each dose goes back where it was; a dose recorded since stays.
        let later = Dose::given("hib", 2, infant.birth_date + chrono::Days::new(100));
        app.add_dose(
            &me,
            t,
            a,
            sesshu_app::doses::DoseChange {
                dose: later,
                confirmed: true,
            },
        )
        .await
        .unwrap();
        let r = app.unlink_persons(&viewer, t, link.link_id, "誤り").await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}");
        let r = app.unlink_persons(&me, t, link.link_id, "").await;
        assert!(matches!(r, Err(AppError::Field("reason", _))), "{name}");
        let undone = app
            .unlink_persons(&me, t, link.link_id, "別人と判明")
            .await
            .unwrap();
        assert!(!undone.in_force(), "{name}");
        let products = |v: Vec<sesshu_store::DoseRow>| {
            v.iter()
                .map(|d| (d.dose.product.clone(), d.dose.ordinal))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            products(store.doses_of(t, "990001").await.unwrap()),
            [("hib".to_owned(), 1), ("bcg".to_owned(), 1)],
            "{name}"
        );
        assert_eq!(
            products(store.doses_of(t, a).await.unwrap()),
            [("bcg".to_owned(), 1), ("hib".to_owned(), 2)],
            "{name}"
        );
        let r = app.unlink_persons(&me, t, link.link_id, "二度目").await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}: {r:?}");
        let e = common::entries(&store, t, "person.unlink").await;
        assert!(
            e.iter()
                .any(|e| e.outcome == "ok" && e.persons_acted.contains("990001")),
            "{name}"
        );
        let d = app.read_person(&me, t, "990001").await.unwrap();
        assert!(
            d.links.iter().all(|l| !l.in_force()),
            "{name}: the undone link stays on record"
        );
    }
}

fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    String::from_utf8(out.stdout).unwrap()
}

fn store_members(x: &sesshu_app::notices::Extracted) -> Vec<String> {
    x.sample.iter().map(|s| s.address_number.clone()).collect()
}
