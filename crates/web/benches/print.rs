//! Printing a notice run from the staff pages against the command line's path, in one run
//! (BENCHMARKS.md, issue 15): a register of SESSHU_BENCH_PERSONS persons (default 100,000); runs
//! of the same query (帯状疱疹, FY2026 cohort, one-page notices, 500 per PDF) printed alternately
//! by `App::print_notice_run` — what `sesshu notices issue` calls — and by the page
//! (`POST /notices/{run}/print`, a background job, its page polled until done), in
//! SESSHU_BENCH_PAIRS pairs (default 2), on SQLite and PostgreSQL. Pages per second of each.
//!
//! `cargo bench -p sesshu-web --bench print` (PostgreSQL as for the tests: scripts/postgres.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sesshu_app::jobs::Progress;
use sesshu_app::notices::{PlanRequest, Planned, RecallForm};
use sesshu_app::{Actor, App, DocumentsConfig};
use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::MunicipalityCode;
use sesshu_formats::{ReadOptions, TextEncoding};
use sesshu_store::{ImportMode, ImportOptions, NewAccount, Store};
use sesshu_web::{AppState, router};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

type Http =
    Client<hyper_util::client::legacy::connect::HttpConnector, http_body_util::Full<bytes::Bytes>>;

async fn get(client: &Http, url: &str, cookie: &str) -> (u16, String) {
    let r = client
        .request(
            hyper::Request::get(url)
                .header("cookie", format!("sesshu_session={cookie}"))
                .body(http_body_util::Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::main]
async fn main() {
    let persons = env("SESSHU_BENCH_PERSONS", 100_000) as usize;
    let pairs = env("SESSHU_BENCH_PAIRS", 2);
    let engine = Arc::new(sesshu_schedule::Engine::new(
        sesshu_schedule::RuleBook::builtin().unwrap(),
    ));
    println!("generating {persons} persons…");
    let feed = Arc::new(sesshu_testkit::feed(
        &sesshu_testkit::town(persons, 1),
        TextEncoding::Utf8,
    ));
    for db in sesshu_testkit::backends().await {
        let store = Store::connect(&db.url).await.unwrap();
        let tenant = MunicipalityCode::parse("132098").unwrap();
        store.create_municipality(tenant, "町田市").await.unwrap();
        let keyring = Keyring::generate();
        store
            .import_residents(
                tenant,
                Arc::new(TenantCrypto::derive(&keyring, tenant).unwrap()),
                std::io::Cursor::new(feed.as_slice().to_vec()),
                ImportOptions {
                    mode: ImportMode::Full,
                    all_or_nothing: true,
                    max_identity_changes: None,
                    dry_run: false,
                    file_name: "town.csv".into(),
                    operator: "bench".into(),
                    read: ReadOptions::default(),
                },
                |_| {},
                |_| {},
            )
            .await
            .unwrap();
        let policy = sesshu_domain::access::PasswordPolicy::default();
        store
            .create_account(
                tenant,
                &NewAccount {
                    login: "bench".into(),
                    display_name: "bench".into(),
                    shared: false,
                    shared_with: None,
                    valid_from: sesshu_testkit::day("2020-01-01"),
                    valid_until: None,
                },
                "first1234",
                &policy,
                "bench",
            )
            .await
            .unwrap();
        store
            .grant(
                tenant,
                "bench",
                "role:clerk",
                sesshu_testkit::day("2020-01-01"),
                None,
                "bench",
            )
            .await
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        let app = App::with_keyring(store.clone(), keyring, engine.clone())
            .with_documents(DocumentsConfig::default())
            .with_output_dir(out.path());
        let operator = Actor::operator(Some(tenant));
        let query = RecallForm {
            series: "hz_b".into(),
            dose: None,
            from: "2026-04-01".into(),
            to: "2027-03-31".into(),
            basis: "opens".into(),
            recall_of: None,
            as_of: Some("2026-04-01".into()),
        }
        .query()
        .unwrap();
        let plan = || async {
            match app
                .plan_recall(
                    &operator,
                    tenant,
                    &PlanRequest {
                        query: query.clone(),
                        documents: vec!["notice".into()],
                        release_protected: false,
                        per_file: None,
                    },
                )
                .await
                .unwrap()
            {
                Planned::Run(run) => run,
                other => panic!("no run: {other:?}"),
            }
        };
        let state = AppState::from_app(app.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let client: Http = Client::builder(TokioExecutor::new()).build_http();
        let session = store
            .start_session(tenant, "bench", None, chrono::Utc::now())
            .await
            .unwrap();
        for pair in 0..pairs {
            let order: [bool; 2] = if pair % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for by_page in order {
                let run = plan().await;
                let started = Instant::now();
                let pages = if by_page {
                    let r = client
                        .request(
                            hyper::Request::post(format!(
                                "http://{addr}/notices/{}/print",
                                run.run_id
                            ))
                            .header("cookie", format!("sesshu_session={}", session.cookie))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(http_body_util::Full::new(bytes::Bytes::from(format!(
                                "csrf={}",
                                session.csrf_token
                            ))))
                            .unwrap(),
                        )
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 303, "the print starts a job");
                    let job = r.headers()["location"].to_str().unwrap().to_owned();
                    loop {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let (status, page) =
                            get(&client, &format!("http://{addr}{job}"), &session.cookie).await;
                        assert_eq!(status, 200);
                        assert!(!page.contains("失敗"), "the job failed: {page}");
                        if page.contains(">完了<") {
                            break;
                        }
                    }
                    let id = job.trim_start_matches("/jobs/");
                    store
                        .job(tenant, id)
                        .await
                        .unwrap()
                        .unwrap()
                        .result
                        .unwrap()["pages"]
                        .as_u64()
                        .unwrap()
                } else {
                    app.print_notice_run(&operator, tenant, &run.run_id, None, &Progress::default())
                        .await
                        .unwrap()
                        .pages
                };
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "{}: {} {}: {} notices, {pages} pages in {seconds:.1} s = {:.0} pages/s ({persons} persons)",
                    db.name,
                    run.run_id,
                    if by_page {
                        "from the page (job, polled)"
                    } else {
                        "the command line's path"
                    },
                    run.person_count,
                    pages as f64 / seconds,
                );
            }
        }
        server.abort();
        store.close().await;
    }
}
