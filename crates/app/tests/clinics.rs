//! 医療機関向け接種前確認 at the application layer, on both backends (issue 21): a clinic finds
//! the person by ticket or by 宛名番号 and birth date, learns what is due and whether the product
//! in its hand would be routine today — and nothing else; every check is audited under its
//! institution; staff, other municipalities, clinics without an institution, wrong birth dates
//! and void tickets are refused, and audited.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use sesshu_app::clinics::{ClinicKey, ClinicQuestion};
use sesshu_app::notices::{PlanRequest, Planned, RecallForm};
use sesshu_app::{Actor, App, AppError, DocumentsConfig, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::access::Permission;
use sesshu_domain::{MunicipalityCode, Person, ResidentStatus};
use sesshu_store::Store;

const INSTITUTION: &str = "1312345678";

struct World {
    app: App,
    store: Store,
    tenant: MunicipalityCode,
    infants: Vec<Person>,
    moved_out: Person,
    _dir: tempfile::TempDir,
}

/// Three infants of about three months (due for the 5種混合/Hib first dose), one person who has
/// moved out, and a second municipality.
async fn world(url: &str) -> World {
    let store = Store::connect(url).await.unwrap();
    let keyring = Keyring::generate();
    let tenant = MunicipalityCode::parse("132098").unwrap();
    let other = MunicipalityCode::parse("011002").unwrap();
    store.create_municipality(tenant, "町田市").await.unwrap();
    store.create_municipality(other, "札幌市").await.unwrap();
    let mut people = sesshu_testkit::town(40, 21);
    let today = today_in_japan();
    for (i, p) in people.iter_mut().take(4).enumerate() {
        p.birth_date = today - chrono::Days::new(90 + i as u64);
        p.status = ResidentStatus::Resident;
        p.protected = false;
    }
    people[3].status = ResidentStatus::MovedOut;
    let infants = people[..3].to_vec();
    let moved_out = people[3].clone();
    common::import(&store, &keyring, tenant, &people).await;
    let dir = tempfile::tempdir().unwrap();
    let app = App::with_keyring(
        store.clone(),
        keyring,
        Arc::new(sesshu_schedule::Engine::new(
            sesshu_schedule::RuleBook::builtin().unwrap(),
        )),
    )
    .with_documents(DocumentsConfig {
        approval: false,
        ..DocumentsConfig::default()
    })
    .with_output_dir(dir.path());
    World {
        app,
        store,
        tenant,
        infants,
        moved_out,
        _dir: dir,
    }
}

fn clinic(tenant: &str, institution: Option<&str>) -> Actor {
    Actor {
        institution: institution.map(str::to_owned),
        ..common::actor(tenant, "clinic", "role:clinic")
    }
}

fn by_person(p: &Person, birth: &str, product: Option<&str>) -> ClinicQuestion {
    ClinicQuestion {
        key: ClinicKey::Person {
            address_number: p.address_number.as_str().to_owned(),
            birth_date: birth.to_owned(),
        },
        product: product.map(str::to_owned),
    }
}

fn by_ticket(line: &str, product: Option<&str>) -> ClinicQuestion {
    ClinicQuestion {
        key: ClinicKey::Ticket(line.to_owned()),
        product: product.map(str::to_owned),
    }
}

async fn checks(store: &Store, t: MunicipalityCode) -> Vec<sesshu_store::AuditEntry> {
    common::entries(store, t, "clinic.check").await
}

#[tokio::test]
async fn a_clinic_learns_what_is_due_and_whether_the_dose_in_hand_is_routine() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let baby = &w.infants[0];
        let birth = baby.birth_date.to_string();
        let doctor = clinic("132098", Some(INSTITUTION));

        let a = w
            .app
            .clinic_check(&doctor, t, &by_person(baby, &birth, Some("dpt_ipv_hib")))
            .await
            .unwrap();
        assert_eq!(a.name, baby.name.to_string(), "{name}");
        assert_eq!(a.birth_date, baby.birth_date);
        assert_eq!(a.institution, INSTITUTION);
        let p = a.product.as_ref().unwrap();
        assert_eq!(p.routine, Some(true), "{name}: {}", p.line);
        assert!(
            p.line.starts_with("定期接種として接種できます"),
            "{}",
            p.line
        );
        assert!(
            a.due.iter().any(|d| d.now && d.dose == Some(1)),
            "{name}: the first dose is due now: {:?}",
            a.due
        );

        // The wrong product for the age: not routine, and the one line says why.
        let mr = w
            .app
            .clinic_check(&doctor, t, &by_person(baby, &birth, Some("mr")))
            .await
            .unwrap();
        let p = mr.product.unwrap();
        assert_eq!(p.routine, Some(false), "{name}");
        assert!(p.line.starts_with("定期接種になりません: "), "{}", p.line);
        assert!(
            p.line.len() > "定期接種になりません: ".len() + 6,
            "{}",
            p.line
        );

        // A birth date given in the Japanese calendar finds the same person.
        let wareki = sesshu_domain::format_wareki(baby.birth_date);
        let again = w
            .app
            .clinic_check(&doctor, t, &by_person(baby, &wareki, None))
            .await;
        assert!(again.is_ok(), "{name}: {wareki}: {again:?}");

        // Nothing beyond what the clinic needs: no address, household, My Number or history.
        let json = serde_json::to_string(&a).unwrap();
        for hidden in [
            baby.address.clone(),
            baby.household_number.as_ref().map(ToString::to_string),
            baby.phone.clone(),
            baby.postal_code.as_ref().map(ToString::to_string),
            baby.my_number
                .as_ref()
                .map(|n| String::from_utf8(n.expose().to_vec()).unwrap()),
        ]
        .into_iter()
        .flatten()
        {
            assert!(!json.contains(&hidden), "{name}: the answer shows {hidden}");
        }
        assert!(!json.contains(baby.address_number.as_str()), "{name}");

        // Every check is audited: the person shown, under the institution.
        let e = checks(&w.store, t).await;
        let ok: Vec<_> = e.iter().filter(|e| e.outcome == "ok").collect();
        assert_eq!(ok.len(), 3, "{name}");
        assert!(
            ok.iter()
                .all(|e| e.persons_shown.contains(baby.address_number.as_str()))
        );
        assert!(ok.iter().all(|e| e.detail.contains(INSTITUTION)), "{name}");
        assert!(
            ok.iter().any(|e| e.detail.contains("\"routine\":false")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_clinic_check_finds_nobody_it_should_not() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let baby = &w.infants[1];
        let birth = baby.birth_date.to_string();
        let doctor = clinic("132098", Some(INSTITUTION));

        // A wrong birth date and an unknown 宛名番号 are refused in the same words.
        let day_off = (baby.birth_date + chrono::Days::new(1)).to_string();
        let wrong = w
            .app
            .clinic_check(&doctor, t, &by_person(baby, &day_off, None))
            .await;
        let Err(AppError::NotFound(m1)) = wrong else {
            panic!("{name}: {wrong:?}");
        };
        let mut nobody = baby.clone();
        nobody.address_number = sesshu_domain::AddressNumber::parse("999999999999999").unwrap();
        let unknown = w
            .app
            .clinic_check(&doctor, t, &by_person(&nobody, &birth, None))
            .await;
        let Err(AppError::NotFound(m2)) = unknown else {
            panic!("{name}: {unknown:?}");
        };
        assert_eq!(m1, m2, "{name}: no oracle for who lives here");

        // Bad input names its field.
        let bad = w
            .app
            .clinic_check(&doctor, t, &by_person(baby, "yesterday", None))
            .await;
        assert!(
            matches!(bad, Err(AppError::Field("birth_date", _))),
            "{name}: {bad:?}"
        );
        let bad = w
            .app
            .clinic_check(&doctor, t, &by_person(baby, &birth, Some("snake_oil")))
            .await;
        assert!(
            matches!(bad, Err(AppError::Field("product", _))),
            "{name}: {bad:?}"
        );

        // A person who has moved out is not checked as a resident.
        let gone = w
            .app
            .clinic_check(
                &doctor,
                t,
                &by_person(&w.moved_out, &w.moved_out.birth_date.to_string(), None),
            )
            .await;
        assert!(
            matches!(&gone, Err(AppError::Invalid(m)) if m.contains("住民として登録されていません")),
            "{name}: {gone:?}"
        );

        // From the attacker's side: staff without the clinic's permission, a clinic of another
        // municipality, a clinic account bound to no institution.
        let clerk = common::actor("132098", "madoguchi", "role:clerk");
        let r = w
            .app
            .clinic_check(&clerk, t, &by_person(baby, &birth, None))
            .await;
        assert!(
            matches!(r, Err(AppError::Forbidden(Permission::ClinicCheck))),
            "{name}: {r:?}"
        );
        let sapporo = clinic("011002", Some(INSTITUTION));
        let r = w
            .app
            .clinic_check(&sapporo, t, &by_person(baby, &birth, None))
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let unbound = clinic("132098", None);
        let r = w
            .app
            .clinic_check(&unbound, t, &by_person(baby, &birth, None))
            .await;
        assert!(
            matches!(&r, Err(AppError::Invalid(m)) if m.contains("医療機関コード")),
            "{name}: {r:?}"
        );

        let e = checks(&w.store, t).await;
        assert!(e.iter().all(|e| e.outcome == "refused"), "{name}: {e:?}");
        for reason in [
            "birth date differs",
            "not found",
            "not resident",
            "no institution",
            "permission",
        ] {
            assert!(
                e.iter().any(|e| e.detail.contains(reason)),
                "{name}: a refusal for {reason} is audited"
            );
        }
        assert!(
            e.iter()
                .all(|e| !e.persons_shown.contains(baby.address_number.as_str())),
            "{name}: a refusal shows nobody"
        );
        // The reach into Machida is in the chain of the municipality it came from.
        let from_sapporo = checks(&w.store, MunicipalityCode::parse("011002").unwrap()).await;
        assert!(
            from_sapporo
                .iter()
                .any(|e| e.outcome == "refused" && e.detail.contains("other municipality")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_ticket_is_read_by_its_number_line_and_a_reissued_one_is_void() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let today = today_in_japan();
        let clerk = common::actor("132098", "madoguchi", "role:clerk");
        let query = RecallForm {
            series: "hib".into(),
            dose: Some(1),
            from: today.to_string(),
            to: (today + chrono::Days::new(30)).to_string(),
            basis: "open".into(),
            recall_of: None,
            as_of: None,
        }
        .query()
        .unwrap();
        let plan = PlanRequest {
            query,
            documents: vec!["notice".into(), "ticket".into()],
            release_protected: false,
            per_file: None,
        };
        let Planned::Run(run) = w.app.plan_recall(&clerk, t, &plan).await.unwrap() else {
            panic!("{name}: a run");
        };
        // Tickets are numbered when the run is issued (printing is tested elsewhere).
        let line =
            |_: &str, dose: u32, n: u64| sesshu_documents::model::number_line(4, dose, "132098", n);
        w.store
            .begin_issue(t, &run.run_id, "t", Some(&line), "/tmp")
            .await
            .unwrap();
        let baby = &w.infants[2];
        let ticket = w
            .store
            .tickets_of_person(t, baby.address_number.as_str())
            .await
            .unwrap()
            .remove(0);
        let doctor = clinic("132098", Some(INSTITUTION));

        // As a scanner gives it, and as typed with spaces and full-width digits.
        let typed: String = ticket
            .number_line
            .chars()
            .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
            .collect();
        for presented in [ticket.number_line.clone(), format!(" {typed} ")] {
            let a = w
                .app
                .clinic_check(&doctor, t, &by_ticket(&presented, Some("dpt_ipv_hib")))
                .await
                .unwrap();
            assert_eq!(a.name, baby.name.to_string(), "{name}");
            let state = a.ticket.unwrap();
            assert!(state.valid, "{name}: {}", state.line);
            assert_eq!(state.dose, 1);
        }

        // Another municipality's ticket, and a number never issued.
        let sapporo_line = format!("41011002{}", &ticket.number_line[8..]);
        let r = w
            .app
            .clinic_check(&doctor, t, &by_ticket(&sapporo_line, None))
            .await;
        assert!(
            matches!(&r, Err(AppError::Field("ticket", m)) if m.contains("011002")),
            "{name}: {r:?}"
        );
        let never = sesshu_documents::model::number_line(4, 1, "132098", 9_999_999_999).unwrap();
        let r = w
            .app
            .clinic_check(&doctor, t, &by_ticket(&never, None))
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let r = w
            .app
            .clinic_check(&doctor, t, &by_ticket("12345", None))
            .await;
        assert!(
            matches!(r, Err(AppError::Field("ticket", _))),
            "{name}: {r:?}"
        );

        // A lost ticket re-issued: the old line is void, the new one works.
        let reissued = w
            .store
            .reissue_ticket(t, &ticket.ticket_number, "t", &line)
            .await
            .unwrap();
        let r = w
            .app
            .clinic_check(&doctor, t, &by_ticket(&ticket.number_line, None))
            .await;
        assert!(
            matches!(&r, Err(AppError::Invalid(m)) if m.contains("無効")),
            "{name}: {r:?}"
        );
        let a = w
            .app
            .clinic_check(&doctor, t, &by_ticket(&reissued.number_line, None))
            .await
            .unwrap();
        assert_eq!(a.name, baby.name.to_string(), "{name}");
        let e = checks(&w.store, t).await;
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.detail.contains("ticket invalidated")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_clinic_account_guessing_birth_dates_is_paused() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let baby = &w.infants[2];
        let guesser = Actor {
            actor: "user:guesser".into(),
            ..clinic("132098", Some(INSTITUTION))
        };
        // Ten wrong birth dates for one 宛名番号, each refused alike.
        for d in 1..=sesshu_app::clinics::Misses::LIMIT as u64 {
            let wrong = (baby.birth_date + chrono::Days::new(d)).to_string();
            let r = w
                .app
                .clinic_check(&guesser, t, &by_person(baby, &wrong, None))
                .await;
            assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        }
        // The right one is now refused too, and says why; another clinic's account is not held.
        let right = baby.birth_date.to_string();
        let r = w
            .app
            .clinic_check(&guesser, t, &by_person(baby, &right, None))
            .await;
        assert!(
            matches!(&r, Err(AppError::Invalid(m)) if m.contains("一時停止")),
            "{name}: {r:?}"
        );
        let other = clinic("132098", Some(INSTITUTION));
        let r = w
            .app
            .clinic_check(&other, t, &by_person(baby, &right, None))
            .await;
        assert!(r.is_ok(), "{name}: {r:?}");
        let paused = checks(&w.store, t).await;
        assert!(
            paused
                .iter()
                .any(|e| e.actor == "user:guesser" && e.detail.contains("paused after misses")),
            "{name}"
        );
    }
}
