//! Each operation once, at the application layer, on both backends: refused without its
//! permission and for another municipality (both audited), its audit entry written, and its
//! result — a run planned, approved by a second person, printed and handed out; a lost ticket
//! re-issued; a certificate issued, re-issued, revoked and verified; a background job's progress
//! and a restart that interrupts it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use sesshu_app::certificates::{IssueRequest, TravelForm, VerifyTarget};
use sesshu_app::jobs::Progress;
use sesshu_app::notices::{PlanRequest, Planned};
use sesshu_app::{Actor, App, AppError, DocumentsConfig, today_in_japan};
use sesshu_crypto::{Keyring, KeyringSource};
use sesshu_domain::access::Permission;
use sesshu_domain::{MunicipalityCode, Person};
use sesshu_formats::TextEncoding;
use sesshu_store::{ImportMode, JobStatus, RunStatus, Store};

struct World {
    app: App,
    store: Store,
    tenant: MunicipalityCode,
    infants: Vec<Person>,
    _dir: tempfile::TempDir,
}

use common::{actor, entries};

fn clerk(login: &str) -> Actor {
    actor("132098", login, "role:clerk")
}

/// A town with three infants of about three months (due for Hib's first dose) and a second
/// municipality.
async fn world(url: &str) -> World {
    let store = Store::connect(url).await.unwrap();
    let keyring = Keyring::generate();
    let tenant = MunicipalityCode::parse("132098").unwrap();
    let other = MunicipalityCode::parse("011002").unwrap();
    store.create_municipality(tenant, "町田市").await.unwrap();
    store.create_municipality(other, "札幌市").await.unwrap();
    let mut people = sesshu_testkit::town(40, 11);
    let today = today_in_japan();
    for (i, p) in people.iter_mut().take(3).enumerate() {
        p.birth_date = today - chrono::Days::new(90 + i as u64);
        p.status = sesshu_domain::ResidentStatus::Resident;
        p.protected = false;
    }
    let infants = people[..3].to_vec();
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
        approval: true,
        per_file: Some(2),
        ..DocumentsConfig::default()
    })
    .with_certificate_keys(KeyringSource::fixed(Keyring::generate()))
    .with_output_dir(dir.path());
    World {
        app,
        store,
        tenant,
        infants,
        _dir: dir,
    }
}

#[tokio::test]
async fn a_recall_is_planned_approved_by_another_printed_and_handed_out() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let q = common::hib_first_dose();

        // From the attacker's side: a viewer, and a clerk of another municipality.
        let viewer = actor("132098", "mita", "role:viewer");
        let refused = w.app.extract_recall(&viewer, t, &q, 5).await;
        assert!(
            matches!(refused, Err(AppError::Forbidden(Permission::NoticeRun))),
            "{name}: {refused:?}"
        );
        let sapporo = actor("011002", "kita", "role:clerk");
        let refused = w.app.extract_recall(&sapporo, t, &q, 5).await;
        assert!(matches!(refused, Err(AppError::NotFound(_))), "{name}");
        let refusals = entries(&w.store, t, "notice.extract").await;
        assert!(
            refusals
                .iter()
                .any(|e| e.actor == "user:mita" && e.outcome == "refused"),
            "{name}: the viewer's refusal is audited"
        );

        // The dry run names the infants and changes nothing.
        let tanaka = clerk("tanaka");
        let x = w.app.extract_recall(&tanaka, t, &q, 10).await.unwrap();
        assert!(x.passed, "{name}: {}", x.report);
        for p in &w.infants {
            assert!(
                x.sample
                    .iter()
                    .any(|s| s.address_number == p.address_number.as_str()
                        && s.name == p.name.to_string()),
                "{name}: {} is due for Hib",
                p.name
            );
        }
        assert!(w.store.notice_runs(t).await.unwrap().is_empty());
        let e = entries(&w.store, t, "notice.extract").await;
        let mine = e.iter().find(|e| e.actor == "user:tanaka").unwrap();
        assert!(
            mine.persons_shown
                .contains(w.infants[0].address_number.as_str())
        );

        // Planning: no documents is a clear error; then a run awaiting approval.
        let mut req = PlanRequest {
            query: q.clone(),
            documents: vec![],
            release_protected: false,
            per_file: None,
        };
        let none = w.app.plan_recall(&tanaka, t, &req).await;
        assert!(
            matches!(none, Err(AppError::Field("documents", m)) if m.contains("書類")),
            "{name}"
        );
        req.documents = vec!["notice".into(), "ticket".into()];
        let Planned::Run(run) = w.app.plan_recall(&tanaka, t, &req).await.unwrap() else {
            panic!("{name}: a run");
        };
        assert_eq!(run.status, RunStatus::AwaitingApproval, "{name}");
        let count = run.person_count;
        assert!(count >= 3, "{name}: {count}");

        // Printing before approval and approving one's own plan are refused, and audited.
        let early = w
            .app
            .print_notice_run(&tanaka, t, &run.run_id, None, &Progress::default())
            .await;
        assert!(
            matches!(early, Err(AppError::Invalid(m)) if m.contains("承認")),
            "{name}"
        );
        let own = w.app.approve_notice_run(&tanaka, t, &run.run_id).await;
        assert!(matches!(own, Err(AppError::Invalid(_))), "{name}");
        let cli_self = Actor::operator(Some(t));
        let cli_self = Actor {
            actor: "cli:tanaka".into(),
            ..cli_self
        };
        let own = w.app.approve_notice_run(&cli_self, t, &run.run_id).await;
        assert!(
            matches!(own, Err(AppError::Invalid(_))),
            "{name}: the same person on the command line"
        );
        let approvals = entries(&w.store, t, "notice.approve").await;
        assert!(approvals.iter().any(|e| e.outcome == "refused"), "{name}");
        let viewer_try = w.app.approve_notice_run(&viewer, t, &run.run_id).await;
        assert!(matches!(viewer_try, Err(AppError::Forbidden(_))), "{name}");

        let suzuki = clerk("suzuki");
        let approved = w
            .app
            .approve_notice_run(&suzuki, t, &run.run_id)
            .await
            .unwrap();
        assert_eq!(approved.status, RunStatus::Ready);
        assert_eq!(approved.approved_by.as_deref(), Some("user:suzuki"));

        // Printing: every document, with its progress, and the run issued.
        let progress = Progress::default();
        let printed = w
            .app
            .print_notice_run(&suzuki, t, &run.run_id, None, &progress)
            .await
            .unwrap();
        assert_eq!(printed.persons as u64, count, "{name}");
        assert!(printed.pages >= 2 * count, "{name}: {printed:?}");
        let (done, total) = progress.get();
        assert_eq!((done, total), (2 * count, 2 * count), "{name}");
        let issued = w.store.notice_run(t, &run.run_id).await.unwrap().unwrap();
        assert_eq!(issued.status, RunStatus::Issued);
        let e = entries(&w.store, t, "notice.issue").await;
        let ok = e.iter().find(|e| e.outcome == "ok").unwrap();
        assert!(
            ok.persons_acted
                .contains(w.infants[1].address_number.as_str())
        );

        // The files: two per file (per_file = 2), and the vendor file once issued.
        let files = w
            .app
            .notice_run_files(&suzuki, t, &run.run_id)
            .await
            .unwrap();
        let pdfs: Vec<_> = files.iter().filter(|f| f.document != "vendor").collect();
        assert_eq!(
            pdfs.len() as u64,
            2 * count.div_ceil(2),
            "{name}: {files:?}"
        );
        let vendor = files.iter().find(|f| f.document == "vendor").unwrap();
        let csv = w
            .app
            .notice_run_file(&suzuki, t, &run.run_id, &vendor.file_name)
            .await
            .unwrap();
        let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&csv);
        assert!(!bad, "{name}: Shift_JIS");
        assert!(text.contains(&w.infants[2].kana.to_string()), "{name}");
        for p in &w.infants {
            if let Some(n) = &p.my_number {
                let digits = String::from_utf8(n.expose().to_vec()).unwrap();
                assert!(
                    !text.contains(&digits),
                    "{name}: no My Number in the vendor file"
                );
            }
        }
        let first = w
            .app
            .notice_run_file(&suzuki, t, &run.run_id, &pdfs[0].file_name)
            .await
            .unwrap();
        assert!(first.starts_with(b"%PDF"), "{name}");
        let shown = entries(&w.store, t, "notice.download").await;
        assert_eq!(shown.len(), 2, "{name}: each download audited");
        // A name that was not written, and another municipality, find nothing.
        let made_up = w
            .app
            .notice_run_file(&suzuki, t, &run.run_id, "../../etc/passwd")
            .await;
        assert!(matches!(made_up, Err(AppError::NotFound(_))), "{name}");
        let other = w
            .app
            .notice_run_file(&sapporo, t, &run.run_id, &pdfs[0].file_name)
            .await;
        assert!(matches!(other, Err(AppError::NotFound(_))), "{name}");
        // A file altered after it was written is refused, not handed out.
        let path =
            std::path::Path::new(issued.output_dir.as_deref().unwrap()).join(&pdfs[0].file_name);
        std::fs::write(&path, b"%PDF-1.7 altered").unwrap();
        let altered = w
            .app
            .notice_run_file(&suzuki, t, &run.run_id, &pdfs[0].file_name)
            .await;
        assert!(matches!(altered, Err(AppError::Invalid(_))), "{name}");

        // A lost ticket: a new number, the old one invalid, and no second re-issue of it.
        let notices = w.store.notices_of_run(t, &run.run_id).await.unwrap();
        let old = notices[0].ticket_number.clone().unwrap();
        let refused = w.app.reissue_ticket(&viewer, t, &old).await;
        assert!(matches!(refused, Err(AppError::Forbidden(_))), "{name}");
        let r = w.app.reissue_ticket(&tanaka, t, &old).await.unwrap();
        assert_ne!(r.ticket.ticket_number, old);
        assert!(r.pdf.starts_with(b"%PDF"));
        assert!(r.path.exists());
        let was = w.store.ticket(t, &old).await.unwrap().unwrap();
        assert!(was.invalidated_at.is_some(), "{name}");
        let again = w.app.reissue_ticket(&tanaka, t, &old).await;
        assert!(matches!(again, Err(AppError::Invalid(_))), "{name}");
        let e = entries(&w.store, t, "ticket.reissue").await;
        assert!(
            e.iter().any(|e| e.outcome == "ok"
                && e.persons_acted.contains(notices[0].address_number.as_str()))
        );
        assert!(e.iter().any(|e| e.outcome == "refused"), "{name}");
    }
}

#[tokio::test]
async fn a_certificate_is_issued_reissued_revoked_and_verified() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let p = &w.infants[0];
        let tanaka = clerk("tanaka");
        let address = p.address_number.as_str().to_owned();
        let req = IssueRequest {
            address_number: address.clone(),
            travel: None,
            reissue_of: None,
        };
        // Nothing to certify yet: said, nothing recorded.
        let empty = w.app.issue_certificate(&tanaka, t, &req).await;
        assert!(
            matches!(empty, Err(AppError::Invalid(m)) if m.contains("接種の記録")),
            "{name}"
        );
        let dose = sesshu_domain::Dose::given("bcg", 1, today_in_japan() - chrono::Days::new(1));
        w.store
            .record_dose(t, &address, dose, None, Default::default(), "t")
            .await
            .unwrap();

        let viewer = actor("132098", "mita", "role:viewer");
        let refused = w.app.issue_certificate(&viewer, t, &req).await;
        assert!(
            matches!(
                refused,
                Err(AppError::Forbidden(Permission::CertificateIssue))
            ),
            "{name}"
        );
        let sapporo = actor("011002", "kita", "role:clerk");
        let refused = w.app.issue_certificate(&sapporo, t, &req).await;
        assert!(matches!(refused, Err(AppError::NotFound(_))), "{name}");

        let issued = w.app.issue_certificate(&tanaka, t, &req).await.unwrap();
        assert_eq!(issued.doses, 1);
        assert!(issued.pdf.starts_with(b"%PDF"));
        let e = entries(&w.store, t, "certificate.issue").await;
        assert!(
            e.iter()
                .any(|e| e.outcome == "ok" && e.persons_acted.contains(&address))
        );
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.actor == "user:mita")
        );

        // Verified by the PDF as handed out, by its ID, and not once altered.
        let by_pdf = w
            .app
            .verify_certificate(&tanaka, t, &VerifyTarget::Pdf(issued.pdf.clone()))
            .await
            .unwrap();
        assert!(by_pdf.genuine, "{name}: {by_pdf:?}");
        assert_eq!(
            by_pdf.certificate.as_ref().unwrap()["n"].as_str(),
            Some(p.name.to_string().as_str())
        );
        let mut altered = issued.pdf.clone();
        altered.push(b'\n');
        let v = w
            .app
            .verify_certificate(&tanaka, t, &VerifyTarget::Pdf(altered))
            .await
            .unwrap();
        assert!(!v.genuine, "{name}");
        let pdf = w
            .app
            .certificate_pdf(&tanaka, t, &issued.certificate_id)
            .await
            .unwrap();
        assert_eq!(pdf, issued.pdf, "{name}: the kept copy");

        // The travel version needs the passport's data, in half-width letters.
        let bad = w
            .app
            .issue_certificate(
                &tanaka,
                t,
                &IssueRequest {
                    travel: Some(TravelForm {
                        romanised_name: "ヤマダ".into(),
                        nationality: "JPN".into(),
                        passport_number: "TK1234567".into(),
                    }),
                    reissue_of: Some(issued.certificate_id.clone()),
                    ..req.clone()
                },
            )
            .await;
        assert!(matches!(bad, Err(AppError::Invalid(_))), "{name}");
        // Re-issued as the travel version: the old one stops verifying.
        let travel = w
            .app
            .issue_certificate(
                &tanaka,
                t,
                &IssueRequest {
                    travel: Some(TravelForm {
                        romanised_name: "yamada hanako".into(),
                        nationality: "jpn".into(),
                        passport_number: "tk1234567".into(),
                    }),
                    reissue_of: Some(issued.certificate_id.clone()),
                    ..req.clone()
                },
            )
            .await
            .unwrap();
        let old = w
            .app
            .verify_certificate(&tanaka, t, &VerifyTarget::Id(issued.certificate_id.clone()))
            .await
            .unwrap();
        assert!(!old.genuine, "{name}: replaced");
        assert!(old.reason.unwrap().contains("再発行"), "{name}");
        let new = w
            .app
            .verify_certificate(&tanaka, t, &VerifyTarget::Id(travel.certificate_id.clone()))
            .await
            .unwrap();
        assert!(new.genuine, "{name}");
        assert_eq!(
            new.certificate.as_ref().unwrap()["p"].as_str(),
            Some("TK1234567")
        );

        // Revoked on its own, with a reason every verification then gives.
        let no_reason = w
            .app
            .revoke_certificate(&tanaka, t, &travel.certificate_id, " ")
            .await;
        assert!(matches!(no_reason, Err(AppError::Invalid(_))), "{name}");
        let refused = w
            .app
            .revoke_certificate(&viewer, t, &travel.certificate_id, "紛失")
            .await;
        assert!(matches!(refused, Err(AppError::Forbidden(_))), "{name}");
        w.app
            .revoke_certificate(&tanaka, t, &travel.certificate_id, "誤って発行したため")
            .await
            .unwrap();
        let gone = w
            .app
            .verify_certificate(&tanaka, t, &VerifyTarget::Id(travel.certificate_id.clone()))
            .await
            .unwrap();
        assert!(!gone.genuine);
        assert!(
            gone.reason.unwrap().contains("誤って発行したため"),
            "{name}"
        );
        let twice = w
            .app
            .revoke_certificate(&tanaka, t, &travel.certificate_id, "紛失")
            .await;
        assert!(matches!(twice, Err(AppError::Invalid(_))), "{name}");
        let e = entries(&w.store, t, "certificate.revoke").await;
        assert!(
            e.iter()
                .any(|e| e.outcome == "ok" && e.persons_acted.contains(&address))
        );
        // Verification names the holder: audited as shown.
        let e = entries(&w.store, t, "certificate.verify").await;
        assert!(
            e.iter().any(|e| e.persons_shown.contains(&address)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_print_job_shows_its_progress_and_a_restart_marks_it_failed() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let tanaka = clerk("tanaka");
        let Planned::Run(run) = w
            .app
            .plan_recall(
                &tanaka,
                t,
                &PlanRequest {
                    query: common::hib_first_dose(),
                    documents: vec!["notice".into()],
                    release_protected: false,
                    per_file: Some(1),
                },
            )
            .await
            .unwrap()
        else {
            panic!("{name}: a run");
        };
        let suzuki = clerk("suzuki");
        w.app
            .approve_notice_run(&suzuki, t, &run.run_id)
            .await
            .unwrap();

        // Without notice.run no job starts.
        let viewer = actor("132098", "mita", "role:viewer");
        let refused = w
            .app
            .start_job(&viewer, t, "notice.issue", &run.run_id, |_, _| async {
                Ok(serde_json::json!({}))
            })
            .await;
        assert!(matches!(refused, Err(AppError::Forbidden(_))), "{name}");

        let (actor, id) = (suzuki.clone(), run.run_id.clone());
        let job = w
            .app
            .start_job(
                &suzuki,
                t,
                "notice.issue",
                &run.run_id,
                move |app, progress| async move {
                    let p = app
                        .print_notice_run(&actor, t, &id, None, &progress)
                        .await?;
                    Ok(serde_json::to_value(p)?)
                },
            )
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Running);
        assert_eq!(job.started_by, "user:suzuki");
        let mut ended = None;
        for _ in 0..600 {
            let j = w.app.job(&suzuki, t, &job.job_id).await.unwrap();
            if j.status != JobStatus::Running {
                ended = Some(j);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ended = ended.expect("the job ends");
        assert_eq!(ended.status, JobStatus::Done, "{name}: {:?}", ended.error);
        assert_eq!(ended.done, ended.total, "{name}");
        assert_eq!(ended.total, run.person_count, "{name}");
        assert_eq!(
            ended.result.as_ref().unwrap()["persons"].as_u64(),
            Some(run.person_count)
        );
        // Another municipality does not see it; a viewer may not read it.
        let sapporo = actor_of("011002");
        assert!(matches!(
            w.app.job(&sapporo, t, &job.job_id).await,
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            w.app.job(&viewer, t, &job.job_id).await,
            Err(AppError::Forbidden(_))
        ));

        // A job still running when its server stops: the next start marks it failed, and
        // while it runs a second one on the same subject is refused.
        let stuck = w
            .app
            .start_job(&suzuki, t, "notice.issue", "R-stuck", |_, _| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(serde_json::json!({}))
            })
            .await
            .unwrap();
        let twice = w
            .app
            .start_job(&suzuki, t, "notice.issue", "R-stuck", |_, _| async {
                Ok(serde_json::json!({}))
            })
            .await;
        assert!(
            matches!(twice, Err(AppError::Invalid(_))),
            "{name}: {twice:?}"
        );
        let elsewhere = w.app.clone().with_runner("another-host");
        assert_eq!(
            elsewhere.fail_interrupted_jobs().await.unwrap(),
            0,
            "{name}"
        );
        assert_eq!(w.app.fail_interrupted_jobs().await.unwrap(), 1, "{name}");
        let failed = w.app.job(&suzuki, t, &stuck.job_id).await.unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some(sesshu_store::INTERRUPTED));
    }
}

fn actor_of(tenant: &str) -> Actor {
    actor(tenant, "kita", "role:clerk")
}

#[tokio::test]
async fn the_register_is_read_and_searched_and_my_numbers_used_only_with_a_purpose() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let p = &w.infants[0];
        let a = p.address_number.as_str();
        let auditor = actor("132098", "kansa", "role:auditor");
        let sapporo = actor_of("011002");
        let reader = actor("132098", "yomu", "person.read");
        let clerk = clerk("tanaka");
        let officer = actor("132098", "bango", "role:mynumber_officer");

        assert!(matches!(
            w.app.read_person(&auditor, t, a).await,
            Err(AppError::Forbidden(Permission::PersonRead))
        ));
        assert!(matches!(
            w.app.read_person(&sapporo, t, a).await,
            Err(AppError::NotFound(_))
        ));
        // Without dose.read the doses and the forecast are left out.
        let d = w.app.read_person(&reader, t, a).await.unwrap();
        assert_eq!(d.person.name, p.name.to_string(), "{name}");
        assert!(d.schedule.is_empty(), "{name}");
        let d = w.app.read_person(&clerk, t, a).await.unwrap();
        assert!(
            !d.schedule.is_empty(),
            "{name}: the forecast with dose.read"
        );
        assert!(matches!(
            w.app.read_person(&clerk, t, "999999999").await,
            Err(AppError::NotFound(_))
        ));
        let e = entries(&w.store, t, "person.read").await;
        assert!(
            e.iter()
                .any(|e| e.actor == "user:tanaka" && e.persons_shown.contains(a))
        );
        assert!(
            e.iter()
                .any(|e| e.actor == "user:kansa" && e.outcome == "refused")
        );
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.detail.contains("found"))
        );
        // Sapporo's reach into Machida is in Sapporo's own chain, naming the person it asked for.
        let sapporo_tried = entries(&w.store, sapporo.tenant.unwrap(), "person.read").await;
        assert!(
            sapporo_tried.iter().any(|e| e.outcome == "refused"
                && e.detail.contains("other municipality")
                && e.detail.contains(a)),
            "{name}: {sapporo_tried:?}"
        );

        let none = w
            .app
            .search_persons(&clerk, t, &sesshu_app::persons::PersonSearch::default())
            .await;
        assert!(matches!(none, Err(AppError::Invalid(_))), "{name}");
        let bad = w
            .app
            .search_persons(
                &clerk,
                t,
                &sesshu_app::persons::PersonSearch {
                    birth_date: Some("2026-13-01".into()),
                    ..Default::default()
                },
            )
            .await;
        assert!(
            matches!(&bad, Err(AppError::Fields(list))
                if list.iter().any(|(f, m)| *f == "birth_date" && m.contains("生年月日"))),
            "{name}: {bad:?}"
        );
        // Only separators or marks would match the whole register as a prefix: refused.
        for (kana, name_) in [(Some("・"), None), (Some("　・　"), Some("佐藤"))] {
            let everyone = w
                .app
                .search_persons(
                    &clerk,
                    t,
                    &sesshu_app::persons::PersonSearch {
                        kana: kana.map(str::to_owned),
                        name: name_.map(str::to_owned),
                        ..Default::default()
                    },
                )
                .await;
            assert!(
                matches!(&everyone, Err(AppError::Fields(list))
                    if list.iter().any(|(_, m)| m.contains("記号だけでは検索しません"))),
                "{name}: {kana:?} {name_:?}: {everyone:?}"
            );
        }
        let hits = w
            .app
            .search_persons(
                &clerk,
                t,
                &sesshu_app::persons::PersonSearch {
                    birth_date: Some(p.birth_date.to_string()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(hits.rows.iter().any(|h| h.address_number == a), "{name}");
        let e = entries(&w.store, t, "person.search").await;
        assert!(e.iter().any(|e| e.persons_shown.contains(a)), "{name}");

        // The My Number: mynumber.use, and a purpose, recorded without the number.
        let number = p
            .my_number
            .as_ref()
            .map(|n| String::from_utf8(n.expose().to_vec()).unwrap());
        assert!(matches!(
            w.app
                .reveal_my_number(&clerk, t, a, Some("照会".into()))
                .await,
            Err(AppError::Forbidden(Permission::MyNumberUse))
        ));
        assert!(matches!(
            w.app.reveal_my_number(&officer, t, a, None).await,
            Err(AppError::Invalid(_))
        ));
        let shown = w
            .app
            .reveal_my_number(&officer, t, a, Some("転入者の照会".into()))
            .await
            .unwrap();
        assert_eq!(shown, number, "{name}");
        if let Some(n) = &number {
            let found = w
                .app
                .find_by_my_number(&officer, t, n, Some("本人確認".into()))
                .await
                .unwrap();
            assert_eq!(found, vec![a.to_owned()], "{name}");
            for f in ["mynumber.reveal", "mynumber.search"] {
                for e in entries(&w.store, t, f).await {
                    assert!(!e.detail.contains(n.as_str()), "{name}: no number in {f}");
                }
            }
        }
        let e = entries(&w.store, t, "mynumber.reveal").await;
        assert!(
            e.iter().any(|e| e.detail.contains("転入者の照会")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn doses_are_recorded_corrected_and_deleted_as_versions_with_their_judgement() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let p = &w.infants[0];
        let a = p.address_number.as_str();
        let today = today_in_japan();
        let viewer = actor("132098", "mita", "role:viewer");
        let sapporo = actor_of("011002");
        let tanaka = clerk("tanaka");
        let bcg = |days: u64| sesshu_domain::Dose::given("bcg", 1, today - chrono::Days::new(days));
        let change = |dose, confirmed| sesshu_app::doses::DoseChange { dose, confirmed };

        assert!(matches!(
            w.app.add_dose(&viewer, t, a, change(bcg(1), true)).await,
            Err(AppError::Forbidden(Permission::DoseWrite))
        ));
        assert!(matches!(
            w.app.add_dose(&sapporo, t, a, change(bcg(1), true)).await,
            Err(AppError::NotFound(_))
        ));
        // A date before birth, or in the future, is the date field's error; nothing recorded.
        let before_birth = w.app.add_dose(&tanaka, t, a, change(bcg(400), true)).await;
        assert!(
            matches!(before_birth, Err(AppError::Field("given_on", _))),
            "{name}: {before_birth:?}"
        );
        let future = sesshu_domain::Dose::given("bcg", 1, today + chrono::Days::new(1));
        assert!(matches!(
            w.app.add_dose(&tanaka, t, a, change(future, true)).await,
            Err(AppError::Field("given_on", _))
        ));
        assert!(w.store.doses_of(t, a).await.unwrap().is_empty(), "{name}");

        let sesshu_app::doses::Written::Recorded {
            dose_id, judged, ..
        } = w
            .app
            .add_dose(&tanaka, t, a, change(bcg(2), false))
            .await
            .unwrap()
        else {
            panic!("{name}: a routine BCG is recorded");
        };
        assert_eq!(judged.routine, Some(true), "{name}");
        // A second BCG breaks the rules: not recorded unless confirmed, then flagged.
        let again = w
            .app
            .add_dose(&tanaka, t, a, change(bcg(1), false))
            .await
            .unwrap();
        assert!(
            matches!(
                again,
                sesshu_app::doses::Written::NeedsConfirmation(Some(_))
            ),
            "{name}: {again:?}"
        );
        assert_eq!(w.store.doses_of(t, a).await.unwrap().len(), 1, "{name}");

        // A correction needs a reason and keeps the version it replaces.
        let no_reason = w
            .app
            .correct_dose(&tanaka, t, dose_id, " ", |d| Ok(change(d, false)))
            .await;
        assert!(
            matches!(no_reason, Err(AppError::Field("reason", _))),
            "{name}"
        );
        let corrected = w
            .app
            .correct_dose(&tanaka, t, dose_id, "ロット番号の誤り", |mut d| {
                d.lot = Some("BCG-42".into());
                Ok(change(d, false))
            })
            .await
            .unwrap();
        assert!(
            matches!(
                corrected,
                sesshu_app::doses::Written::Recorded { version: 2, .. }
            ),
            "{name}: {corrected:?}"
        );
        let (current, versions) = w.app.dose(&tanaka, t, dose_id).await.unwrap();
        assert_eq!(current.dose.lot.as_deref(), Some("BCG-42"));
        assert_eq!(versions.len(), 1, "{name}: the first version kept");
        assert!(matches!(
            w.app.dose(&sapporo, t, dose_id).await,
            Err(AppError::NotFound(_))
        ));

        // Deleted: a version marked deleted, with the reason; refused without one.
        assert!(matches!(
            w.app.delete_dose(&tanaka, t, dose_id, "").await,
            Err(AppError::Field("delete_reason", _))
        ));
        assert!(matches!(
            w.app.delete_dose(&viewer, t, dose_id, "重複").await,
            Err(AppError::Forbidden(_))
        ));
        let deleted = w
            .app
            .delete_dose(&tanaka, t, dose_id, "重複登録")
            .await
            .unwrap();
        assert!(deleted.deleted && deleted.version == 3, "{name}");
        let e = entries(&w.store, t, "dose.write").await;
        let actions: Vec<&str> = e
            .iter()
            .filter(|e| e.outcome == "ok" && e.persons_acted.contains(a))
            .map(|e| e.detail.as_str())
            .collect();
        assert_eq!(
            actions.len(),
            3,
            "{name}: add, correct, delete: {actions:?}"
        );
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.actor == "user:mita")
        );
        let e = entries(&w.store, t, "dose.read").await;
        assert!(e.iter().any(|e| e.persons_shown.contains(a)), "{name}");
    }
}

#[tokio::test]
async fn a_file_is_previewed_without_change_then_imported_with_its_progress() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        // Address numbers run on past the 40 of the town: the last ones are new.
        let newcomers = sesshu_testkit::town(60, 99);
        let bytes = Arc::new(sesshu_testkit::feed(&newcomers, TextEncoding::Utf8));
        let req = |dry_run| sesshu_app::imports::ImportRequest {
            kind: sesshu_app::imports::ImportKind::Residents,
            mode: ImportMode::Diff,
            file_name: "tennyu.csv".into(),
            file: sesshu_app::imports::ImportFile::Bytes(bytes.clone()),
            dry_run,
            confirm_identity_changes: false,
        };
        let viewer = actor("132098", "mita", "role:viewer");
        let refused = w
            .app
            .import_file(&viewer, t, &req(false), 5, &Progress::default())
            .await;
        assert!(matches!(
            refused,
            Err(AppError::Forbidden(Permission::ImportRun))
        ));
        let tanaka = clerk("tanaka");
        let probe = &newcomers[55].address_number;
        let preview = w
            .app
            .import_file(&tanaka, t, &req(true), 5, &Progress::default())
            .await
            .unwrap();
        assert!(
            preview.counts.iter().any(|(k, v)| k == "行数" && *v == 60),
            "{name}: {:?}",
            preview.counts
        );
        assert!(
            w.store.person(t, probe).await.unwrap().is_none(),
            "{name}: a dry run"
        );
        // Another town's file under the same address numbers changes the names and birth
        // dates of the first 40: listed, and not applied until that is confirmed.
        assert_eq!(preview.identity_changed, 40, "{name}");
        assert!(preview.identity_confirmation_needed);
        assert_eq!(
            preview.identity_changes[0].address_number,
            newcomers[0].address_number.as_str()
        );
        let unconfirmed = w
            .app
            .import_file(&tanaka, t, &req(false), 5, &Progress::default())
            .await
            .unwrap();
        assert_eq!(unconfirmed.status, "refused", "{name}");
        assert!(w.store.person(t, probe).await.unwrap().is_none(), "{name}");
        let progress = Progress::default();
        let confirmed = sesshu_app::imports::ImportRequest {
            confirm_identity_changes: true,
            ..req(false)
        };
        let done = w
            .app
            .import_file(&tanaka, t, &confirmed, 5, &progress)
            .await
            .unwrap();
        assert_eq!(done.status, "applied", "{name}: {done:?}");
        assert!(w.store.person(t, probe).await.unwrap().is_some(), "{name}");
        assert_eq!(progress.get(), (bytes.len() as u64, bytes.len() as u64));
        let e = entries(&w.store, t, "import.residents").await;
        assert_eq!(
            e.iter()
                .filter(|e| e.detail.contains("\"dry_run\":true"))
                .count(),
            1,
            "{name}: the preview, recorded as a dry run"
        );
        // The preview listed the persons whose names it changes: recorded as shown.
        let first = newcomers[0].address_number.as_str();
        assert!(
            e.iter()
                .filter(|e| e.detail.contains("\"dry_run\":true"))
                .all(|e| e.persons_shown.contains(first)),
            "{name}: the persons listed are in the entry"
        );
        assert!(
            e.iter()
                .any(|e| e.outcome == "ok" && e.detail.contains(&done.import_id))
        );
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.actor == "user:mita")
        );
    }
}

#[tokio::test]
async fn a_use_suspension_is_recorded_refused_twice_and_lifted_with_its_reasons() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let a = w.infants[1].address_number.as_str();
        let writer = actor("132098", "kakari", "person.write");
        let clerk = clerk("tanaka");
        assert!(matches!(
            w.app.suspend_use(&clerk, t, a, None, "請求").await,
            Err(AppError::Forbidden(Permission::PersonWrite))
        ));
        assert!(matches!(
            w.app
                .suspend_use(&actor_of("011002"), t, a, None, "請求")
                .await,
            Err(AppError::NotFound(_))
        ));
        // Both wrong fields are named at once; nothing recorded.
        let bad = w
            .app
            .suspend_use(&writer, t, a, Some("令和99年"), " ")
            .await;
        let Err(AppError::Fields(wrong)) = bad else {
            panic!("{name}: {bad:?}");
        };
        let fields: Vec<&str> = wrong.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["requested_on", "reason"], "{name}");
        assert!(w.store.suspension_in_force(t, a).await.unwrap().is_none());

        let s = w
            .app
            .suspend_use(&writer, t, a, Some("2026-11-20"), "窓口で利用停止を請求")
            .await
            .unwrap();
        assert_eq!(s.requested_on, "2026-11-20");
        let twice = w.app.suspend_use(&writer, t, a, None, "再度").await;
        assert!(
            matches!(twice, Err(AppError::Invalid(_))),
            "{name}: {twice:?}"
        );
        // The recall leaves the person out while it is in force.
        let x = w
            .app
            .extract_recall(&clerk, t, &common::hib_first_dose(), 50)
            .await
            .unwrap();
        assert!(x.sample.iter().all(|l| l.address_number != a), "{name}");
        assert!(matches!(
            w.app.lift_suspension(&writer, t, a, "").await,
            Err(AppError::Field("reason", _))
        ));
        let lifted = w
            .app
            .lift_suspension(&writer, t, a, "本人が撤回")
            .await
            .unwrap();
        assert!(lifted.lifted.is_some(), "{name}");
        let e = entries(&w.store, t, "person.suspend").await;
        assert!(
            e.iter()
                .any(|e| e.outcome == "ok" && e.persons_acted.contains(a))
        );
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.persons_acted.contains(a))
        );
        assert_eq!(
            entries(&w.store, t, "person.lift_suspension").await.len(),
            1
        );
    }
}

#[tokio::test]
async fn accounts_are_administered_with_separation_of_duties_and_every_change_audited() {
    use sesshu_app::accounts::{AccountChange, AccountChanged};
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let admin = actor("132098", "kanri", "role:administrator");
        let add = AccountChange::Add {
            login: "Sato".into(),
            display_name: "佐藤 一郎".into(),
            shared: false,
            shared_with: None,
            valid_from: None,
            valid_until: None,
            grants: vec!["role:clerk".into()],
        };
        assert!(matches!(
            w.app.change_account(&clerk("tanaka"), t, &add).await,
            Err(AppError::Forbidden(Permission::UserAdmin))
        ));
        assert!(matches!(
            w.app
                .change_account(&actor("011002", "kanri", "role:administrator"), t, &add)
                .await,
            Err(AppError::NotFound(_))
        ));
        let AccountChanged::Added {
            login,
            first_password,
        } = w.app.change_account(&admin, t, &add).await.unwrap()
        else {
            panic!("{name}: added");
        };
        assert_eq!(login, "sato", "{name}: the login is normalised");
        assert!(!first_password.is_empty());
        let bad = AccountChange::Add {
            login: "1x".into(),
            display_name: String::new(),
            shared: false,
            shared_with: None,
            valid_from: None,
            valid_until: None,
            grants: vec![],
        };
        assert!(matches!(
            w.app.change_account(&admin, t, &bad).await,
            Err(AppError::Field("login", _))
        ));
        let nameless = AccountChange::Add {
            login: "suzuki".into(),
            display_name: " ".into(),
            shared: false,
            shared_with: None,
            valid_from: None,
            valid_until: None,
            grants: vec![],
        };
        assert!(
            matches!(
                w.app.change_account(&admin, t, &nameless).await,
                Err(AppError::Field("display_name", _))
            ),
            "{name}: an account needs a name"
        );
        // Separation of duties: an administrator's grants and the auditor's never meet.
        let both = AccountChange::Grant {
            login: "sato".into(),
            grant: "role:administrator".into(),
            valid_from: None,
            valid_until: None,
        };
        w.app.change_account(&admin, t, &both).await.unwrap();
        let auditor = AccountChange::Grant {
            login: "sato".into(),
            grant: "role:auditor".into(),
            valid_from: None,
            valid_until: None,
        };
        let refused = w.app.change_account(&admin, t, &auditor).await;
        assert!(
            matches!(refused, Err(AppError::Invalid(_))),
            "{name}: {refused:?}"
        );
        // No administrator hands himself My Number use or an administrator's permission:
        // sato, now an administrator, is refused; kanri may give it to him.
        let sato = actor("132098", "sato", "role:administrator");
        let to_sato = |grant: &str| AccountChange::Grant {
            login: "sato".into(),
            grant: grant.into(),
            valid_from: None,
            valid_until: None,
        };
        for grant in ["mynumber.use", "keys.admin", "role:administrator"] {
            let refused = w.app.change_account(&sato, t, &to_sato(grant)).await;
            assert!(
                matches!(&refused, Err(AppError::Field("grant", m)) if m.contains("自分自身")),
                "{name}: {grant}: {refused:?}"
            );
        }
        w.app
            .change_account(&sato, t, &to_sato("role:viewer"))
            .await
            .unwrap();
        w.app
            .change_account(&admin, t, &to_sato("mynumber.use"))
            .await
            .unwrap();
        let none = AccountChange::Revoke {
            login: "sato".into(),
            grant: "role:auditor".into(),
        };
        assert!(matches!(
            w.app.change_account(&admin, t, &none).await,
            Err(AppError::Invalid(_))
        ));
        let accounts = w.app.accounts(&admin, t).await.unwrap();
        assert!(
            accounts
                .iter()
                .any(|(a, g)| a.login == "sato" && g.len() == 4)
        );
        let review = w.app.access_review(&admin, t, None).await.unwrap();
        assert!(review.iter().any(|r| r.login == "sato"), "{name}");
        let e = entries(&w.store, t, "user.admin").await;
        assert!(
            e.iter()
                .filter(|e| e.outcome == "ok" && e.actor == "user:kanri")
                .count()
                == 3,
            "{name}: add and two grants"
        );
        assert_eq!(
            e.iter()
                .filter(|e| e.outcome == "refused" && e.actor == "user:sato")
                .count(),
            3,
            "{name}: each grant to himself refused and recorded"
        );
        assert!(
            e.iter()
                .any(|e| e.outcome == "refused" && e.detail.contains("role:auditor")),
            "{name}: the refused grant, with what was asked"
        );
        assert!(
            e.iter().all(|e| !e.detail.contains(&first_password)),
            "{name}: no password"
        );
        assert_eq!(entries(&w.store, t, "user.review").await.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn my_number_use_and_administration_need_a_second_administrator() {
    use sesshu_app::accounts::{AccountChange, AccountChanged};
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let today = today_in_japan();
        let (kanri, suzuki) = (
            actor("132098", "kanri", "role:administrator"),
            actor("132098", "suzuki", "role:administrator"),
        );
        let add = |login: &str| AccountChange::Add {
            login: login.into(),
            display_name: format!("{login} 職員"),
            shared: false,
            shared_with: None,
            valid_from: None,
            valid_until: None,
            grants: vec!["role:clerk".into()],
        };
        w.app.change_account(&kanri, t, &add("sato")).await.unwrap();
        let grant = |grant: &str| AccountChange::Grant {
            login: "sato".into(),
            grant: grant.into(),
            valid_from: None,
            valid_until: None,
        };
        let approve = |grant: &str| AccountChange::Approve {
            login: "sato".into(),
            grant: grant.into(),
        };
        // kanri asks; the grant is on record and does nothing yet.
        let asked = w
            .app
            .change_account(&kanri, t, &grant("mynumber.use"))
            .await;
        assert!(
            matches!(&asked, Ok(AccountChanged::Proposed { grant, .. }) if grant == "mynumber.use"),
            "{name}: {asked:?}"
        );
        let held = w.store.permissions(t, "sato", today).await.unwrap();
        assert!(
            !held.contains(&Permission::MyNumberUse) && held.contains(&Permission::DoseWrite),
            "{name}: a pending grant counts for nothing: {held:?}"
        );
        let review = w.app.access_review(&kanri, t, None).await.unwrap();
        let sato = review.iter().find(|r| r.login == "sato").unwrap();
        assert_eq!(sato.pending.len(), 1, "{name}");
        assert_eq!(sato.pending[0].granted_by, "user:kanri");
        assert!(sato.pending[0].label.starts_with("個人番号の利用"));
        assert!(
            sato.findings.contains("承認待ち"),
            "{name}: {}",
            sato.findings
        );
        assert!(!sato.permissions.contains("個人番号"), "{name}");
        let csv = sesshu_app::accounts::access_review_csv(&review);
        assert!(
            csv.contains("承認待ち")
                && csv.contains("個人番号の利用 (個人番号事務実施者) — 付与 user:kanri"),
            "{csv}"
        );

        // Neither the one who asked, nor the holder, nor a clerk, nor another town approves it.
        let own = w
            .app
            .change_account(&kanri, t, &approve("mynumber.use"))
            .await;
        assert!(
            matches!(&own, Err(AppError::Field("grant", m)) if m.contains("自分が付与")),
            "{name}: {own:?}"
        );
        let holder = actor("132098", "sato", "role:administrator");
        let theirs = w
            .app
            .change_account(&holder, t, &approve("mynumber.use"))
            .await;
        assert!(
            matches!(&theirs, Err(AppError::Field("grant", m)) if m.contains("自分自身")),
            "{name}: {theirs:?}"
        );
        assert!(matches!(
            w.app
                .change_account(&clerk("tanaka"), t, &approve("mynumber.use"))
                .await,
            Err(AppError::Forbidden(Permission::UserAdmin))
        ));
        let sapporo = actor("011002", "kanri", "role:administrator");
        assert!(matches!(
            w.app
                .change_account(&sapporo, t, &approve("mynumber.use"))
                .await,
            Err(AppError::NotFound(_))
        ));
        assert!(
            !w.store
                .permissions(t, "sato", today)
                .await
                .unwrap()
                .contains(&Permission::MyNumberUse),
            "{name}: still nothing after four refusals"
        );

        // A second administrator approves: in force from now, and no longer pending.
        let done = w
            .app
            .change_account(&suzuki, t, &approve("mynumber.use"))
            .await;
        assert!(
            matches!(done, Ok(AccountChanged::Approved { .. })),
            "{name}: {done:?}"
        );
        assert!(
            w.store
                .permissions(t, "sato", today)
                .await
                .unwrap()
                .contains(&Permission::MyNumberUse),
            "{name}"
        );
        let review = w.app.access_review(&kanri, t, None).await.unwrap();
        let sato = review.iter().find(|r| r.login == "sato").unwrap();
        assert!(sato.pending.is_empty() && sato.permissions.contains("個人番号の利用"));
        let again = w
            .app
            .change_account(&suzuki, t, &approve("mynumber.use"))
            .await;
        assert!(
            matches!(again, Err(AppError::Invalid(_))),
            "{name}: {again:?}"
        );

        // An administrator's role asked for and withdrawn before approval never counts.
        let asked = w
            .app
            .change_account(&kanri, t, &grant("role:administrator"))
            .await;
        assert!(
            matches!(asked, Ok(AccountChanged::Proposed { .. })),
            "{name}"
        );
        let withdraw = AccountChange::Revoke {
            login: "sato".into(),
            grant: "role:administrator".into(),
        };
        w.app.change_account(&kanri, t, &withdraw).await.unwrap();
        let late = w
            .app
            .change_account(&suzuki, t, &approve("role:administrator"))
            .await;
        assert!(
            matches!(late, Err(AppError::Invalid(_))),
            "{name}: {late:?}"
        );
        assert!(
            !w.store
                .permissions(t, "sato", today)
                .await
                .unwrap()
                .contains(&Permission::UserAdmin),
            "{name}"
        );
        // A grant that is not sensitive is in force at once; the host's operator at the
        // command line (who creates the first administrator) is not held to four-eyes.
        let viewer = w.app.change_account(&kanri, t, &grant("role:viewer")).await;
        assert!(
            matches!(viewer, Ok(AccountChanged::Granted { .. })),
            "{name}"
        );
        let operator = Actor::operator(Some(t));
        let first = w
            .app
            .change_account(&operator, t, &grant("keys.admin"))
            .await;
        assert!(
            matches!(first, Ok(AccountChanged::Granted { .. })),
            "{name}: {first:?}"
        );

        let tried = entries(&w.store, sapporo.tenant.unwrap(), "user.admin").await;
        assert!(
            tried.iter().any(|e| e.outcome == "refused"
                && e.detail.contains("approve")
                && e.detail.contains("sato")),
            "{name}: the other town's attempt names what it asked for: {tried:?}"
        );
        let e = entries(&w.store, t, "user.admin").await;
        let approvals: Vec<_> = e.iter().filter(|e| e.detail.contains("approve")).collect();
        assert_eq!(
            approvals.iter().filter(|e| e.outcome == "refused").count(),
            5,
            "{name}: own, holder's, the clerk's, again and late approvals recorded as refused, \
             each with what was asked (the other town's is in its own chain)"
        );
        assert!(
            approvals
                .iter()
                .any(|e| e.outcome == "ok" && e.actor == "user:suzuki"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_auditor_searches_exports_and_verifies_and_is_recorded_doing_so() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let a = w.infants[0].address_number.as_str();
        w.app.read_person(&clerk("tanaka"), t, a).await.unwrap();
        let auditor = actor("132098", "kansa", "role:auditor");
        let query = AuditSearch {
            person: Some(a.to_owned()),
            ..AuditSearch::default()
        };
        use sesshu_app::audit::{AuditSearch, AuditUse};
        assert!(matches!(
            w.app
                .audit_entries(&clerk("tanaka"), t, &query, AuditUse::Search)
                .await,
            Err(AppError::Forbidden(Permission::AuditRead))
        ));
        assert!(matches!(
            w.app
                .audit_entries(
                    &actor("011002", "kansa", "role:auditor"),
                    t,
                    &query,
                    AuditUse::Search
                )
                .await,
            Err(AppError::NotFound(_))
        ));
        let found = w
            .app
            .audit_entries(&auditor, t, &query, AuditUse::Search)
            .await
            .unwrap();
        assert!(
            found
                .entries
                .iter()
                .any(|e| e.function == "person.read" && e.actor == "user:tanaka"),
            "{name}: who looked at the person"
        );

        // Newest first, a page at a time, the pages together the whole log once.
        for _ in 0..4 {
            w.app.read_person(&clerk("tanaka"), t, a).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = w
                .app
                .audit_entries(
                    &auditor,
                    t,
                    &AuditSearch {
                        function: Some("person.read".into()),
                        newest_first: true,
                        before,
                        limit: Some(2),
                        ..AuditSearch::default()
                    },
                    AuditUse::Search,
                )
                .await
                .unwrap();
            seen.extend(page.entries.iter().map(|e| e.seq));
            if !page.more {
                break;
            }
            before = page.entries.last().map(|e| e.seq);
        }
        assert_eq!(seen.len(), 5, "{name}: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "{name}: newest first");

        // Today's entries are found with today as both ends (the end is included); an
        // impossible date is an error, not an empty result.
        let today = sesshu_app::today_in_japan().to_string();
        let todays = w
            .app
            .audit_entries(
                &auditor,
                t,
                &AuditSearch {
                    from: Some(today.clone()),
                    until: Some(today),
                    ..AuditSearch::default()
                },
                AuditUse::Search,
            )
            .await
            .unwrap();
        assert!(
            todays.entries.iter().any(|e| e.function == "person.read"),
            "{name}: the last day is included"
        );
        let impossible = w
            .app
            .audit_entries(
                &auditor,
                t,
                &AuditSearch {
                    until: Some("2026-12-32".into()),
                    ..AuditSearch::default()
                },
                AuditUse::Search,
            )
            .await;
        assert!(
            matches!(&impossible, Err(AppError::Fields(f)) if f.iter().any(|(k, _)| *k == "until")),
            "{name}: {impossible:?}"
        );
        w.app
            .audit_entries(&auditor, t, &query, AuditUse::Export)
            .await
            .unwrap();
        let searched = entries(&w.store, t, "audit.read").await;
        assert!(
            searched
                .iter()
                .any(|e| e.actor == "user:kansa" && e.detail.contains(a))
        );
        assert_eq!(
            entries(&w.store, t, "audit.export").await.len(),
            1,
            "{name}"
        );
        let v = w.app.verify_audit(&auditor, t).await.unwrap();
        assert!(v.broken.is_none() && v.entries > 3, "{name}: {v:?}");
        assert!(matches!(
            w.app.verify_audit(&clerk("tanaka"), t).await,
            Err(AppError::Forbidden(_))
        ));
        let e = entries(&w.store, t, "audit.verify").await;
        assert!(
            e.iter()
                .any(|e| e.outcome == "ok" && e.actor == "user:kansa")
        );
    }
}

#[tokio::test]
async fn api_tokens_are_created_listed_and_revoked_by_an_administrator_only() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let admin = actor("132098", "kanri", "role:administrator");
        let grants = vec!["role:viewer".to_owned()];
        assert!(matches!(
            w.app
                .create_token(&clerk("tanaka"), t, "kiosk", &grants, &[], 30)
                .await,
            Err(AppError::Forbidden(Permission::UserAdmin))
        ));
        assert!(matches!(
            w.app
                .create_token(&admin, t, "kiosk", &["role:nobody".to_owned()], &[], 30)
                .await,
            Err(AppError::Field("grant", _))
        ));
        let new = w
            .app
            .create_token(&admin, t, "kiosk", &grants, &[], 30)
            .await
            .unwrap();
        let caller = w
            .store
            .authenticate_token(&new.secret, chrono::Utc::now())
            .await
            .unwrap()
            .expect("the token authenticates");
        assert!(
            caller.permissions.contains(&Permission::PersonRead),
            "{name}"
        );
        let listed = w.app.tokens(&admin, t).await.unwrap();
        assert_eq!(listed.len(), 1, "{name}");
        w.app.revoke_token(&admin, t, &new.token_id).await.unwrap();
        assert!(
            w.store
                .authenticate_token(&new.secret, chrono::Utc::now())
                .await
                .unwrap()
                .is_none(),
            "{name}: revoked at once"
        );
        // A token has no second factor: one holding My Number use is the host operator's to
        // make, for 30 days at most, from named addresses only.
        let mn = vec!["mynumber.use".to_owned()];
        let from = vec!["10.0.0.5".to_owned()];
        let refused = w.app.create_token(&admin, t, "mn", &mn, &from, 7).await;
        assert!(
            matches!(&refused, Err(AppError::Field("grant", m)) if m.contains("運用者")),
            "{name}: an administrator cannot hand such a token to himself: {refused:?}"
        );
        let operator = Actor::operator(Some(t));
        for (sources, days) in [(&vec![], 7), (&from, 31)] {
            let refused = w
                .app
                .create_token(&operator, t, "mn", &mn, sources, days)
                .await;
            assert!(
                matches!(&refused, Err(AppError::Field("allow_from", _))),
                "{name}: {sources:?} {days}: {refused:?}"
            );
        }
        let bad = w
            .app
            .create_token(&operator, t, "mn", &mn, &["intranet".to_owned()], 7)
            .await;
        assert!(
            matches!(bad, Err(AppError::Field("allow_from", _))),
            "{name}"
        );
        let made = w
            .app
            .create_token(&operator, t, "mn", &mn, &from, 30)
            .await
            .unwrap();
        let caller = w
            .store
            .authenticate_token(&made.secret, chrono::Utc::now())
            .await
            .unwrap()
            .unwrap();
        assert!(caller.allow_from.allows("10.0.0.5") && !caller.allow_from.allows("10.0.0.6"));
        let listed = w.app.tokens(&admin, t).await.unwrap();
        assert!(
            listed.iter().any(|l| l.allow_from == "10.0.0.5/32"),
            "{name}"
        );

        let e = entries(&w.store, t, "token.admin").await;
        assert_eq!(e.iter().filter(|e| e.outcome == "ok").count(), 3, "{name}");
        assert!(
            e.iter().all(|e| !e.detail.contains(&new.secret)),
            "{name}: no secret"
        );
    }
}

#[tokio::test]
async fn the_register_forecast_counts_without_showing_anyone() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        assert!(matches!(
            w.app
                .forecast_register(
                    &actor("132098", "kansa", "role:auditor"),
                    t,
                    today_in_japan()
                )
                .await,
            Err(AppError::Forbidden(Permission::ScheduleRead))
        ));
        let f = w
            .app
            .forecast_register(&clerk("tanaka"), t, today_in_japan())
            .await
            .unwrap();
        assert_eq!(f.persons, 40, "{name}");
        let hib = f.series["hib"];
        assert!(
            hib.eligible >= 3,
            "{name}: the three infants are due for Hib: {hib:?}"
        );
        let e = entries(&w.store, t, "schedule.forecast").await;
        assert!(
            e.iter()
                .any(|e| e.outcome == "ok" && e.persons_shown == "[]"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn statistics_import_history_and_what_was_issued_need_their_permissions() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let (from, to) = (
            sesshu_testkit::day("2026-04-01"),
            sesshu_testkit::day("2027-03-31"),
        );
        let viewer = actor("132098", "mita", "role:viewer");
        assert!(matches!(
            w.app.statistics(&viewer, t, from, to).await,
            Err(AppError::Forbidden(Permission::StatsRead))
        ));
        let counter = actor("132098", "toukei", "stats.read");
        let stats = w.app.statistics(&counter, t, from, to).await.unwrap();
        assert_eq!(stats.len(), 1, "{name}");
        let mut pref = actor("132098", "tokyo", "role:statistics");
        pref.tenant = None;
        pref.prefecture = Some("13".into());
        assert_eq!(
            w.app
                .prefecture_statistics(&pref, "13", from, to)
                .await
                .unwrap()
                .len(),
            1,
            "{name}: Machida is in Tokyo"
        );
        assert!(matches!(
            w.app.prefecture_statistics(&pref, "01", from, to).await,
            Err(AppError::NotFound(_))
        ));

        assert!(matches!(
            w.app.import_runs(&viewer, t, 10).await,
            Err(AppError::Forbidden(Permission::ImportRun))
        ));
        let runs = w.app.import_runs(&clerk("tanaka"), t, 10).await.unwrap();
        assert_eq!(runs.len(), 1, "{name}: the town's import");
        let errors = w
            .app
            .import_errors(&clerk("tanaka"), t, &runs[0].import_id)
            .await
            .unwrap();
        assert!(errors.is_empty(), "{name}");
        assert_eq!(
            entries(&w.store, t, "import.errors").await.len(),
            1,
            "{name}"
        );

        let a = w.infants[0].address_number.as_str();
        assert!(matches!(
            w.app
                .issued_to(&actor("132098", "yomu", "person.read"), t, a)
                .await,
            Err(AppError::Forbidden(Permission::DoseRead))
        ));
        let issued = w.app.issued_to(&viewer, t, a).await.unwrap();
        assert!(
            issued.notices.is_empty() && issued.certificates.is_empty(),
            "{name}"
        );
    }
}
