//! Staff pages under load (BENCHMARKS.md): a register of SESSHU_BENCH_PERSONS persons (default
//! 1,000,000) with the vaccination histories of every tenth, served on loopback; 50 logged-in
//! sessions (SESSHU_BENCH_SESSIONS) each alternate a person page (with doses and the forecast)
//! and a kana search for SESSHU_BENCH_SECONDS (default 30); p50/p99 and requests per second for
//! each, on SQLite and PostgreSQL in one run. Then as many clinic sessions call the clinic check
//! (`POST …/clinic-checks` by 宛名番号 and birth date, with a product) for as long (issue 21).
//! SESSHU_BENCH_LOAD=pages or =clinic runs only one of the two.
//!
//! `cargo bench -p sesshu-web --bench pages` (PostgreSQL as for the tests: scripts/postgres.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::MunicipalityCode;
use sesshu_formats::{DoseReadOptions, DoseSubject, DoseWriter, ReadOptions, TextEncoding};
use sesshu_store::{DoseImportOptions, ImportMode, ImportOptions, NewAccount, Store};
use sesshu_web::{AppState, router};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let persons = env("SESSHU_BENCH_PERSONS", 1_000_000) as usize;
    let sessions = env("SESSHU_BENCH_SESSIONS", 50) as usize;
    let seconds = env("SESSHU_BENCH_SECONDS", 30);
    let load = std::env::var("SESSHU_BENCH_LOAD").unwrap_or_default();
    let (pages_load, clinic_load) = (load != "clinic", load != "pages");
    let engine = Arc::new(sesshu_schedule::Engine::new(
        sesshu_schedule::RuleBook::builtin().unwrap(),
    ));
    let today = sesshu_web::today_in_japan();
    println!("generating {persons} persons…");
    let people = sesshu_testkit::town(persons, 1);
    let feed = sesshu_testkit::feed(&people, TextEncoding::Utf8);
    let mut doses = DoseWriter::new(Vec::new()).unwrap();
    let mut with_doses = Vec::new();
    let mut clinic_targets = Vec::new();
    for p in people.iter().step_by(10) {
        let history = sesshu_synth::doses::history(p, today, 1);
        if history.is_empty() {
            continue;
        }
        with_doses.push(p.address_number.as_str().to_owned());
        if p.status == sesshu_domain::ResidentStatus::Resident {
            clinic_targets.push((
                p.address_number.as_str().to_owned(),
                p.birth_date.to_string(),
            ));
        }
        for d in history {
            let subject = DoseSubject {
                address_number: Some(p.address_number.clone()),
                name: Some(p.name.to_string()),
                kana: Some(p.kana.clone()),
                birth_date: p.birth_date,
                sex: Some(p.sex),
            };
            doses.write(&subject, &d).unwrap();
        }
    }
    let doses = Arc::new(doses.finish().unwrap());
    let feed = Arc::new(feed);
    let kana: Vec<String> = people
        .iter()
        .step_by(997)
        .map(|p| p.kana.to_string().chars().take(2).collect())
        .collect();
    drop(people);

    for db in sesshu_testkit::backends().await {
        let store = Store::connect(&db.url).await.unwrap();
        let tenant = MunicipalityCode::parse("132098").unwrap();
        store.create_municipality(tenant, "町田市").await.unwrap();
        let keyring = Keyring::generate();
        let crypto = Arc::new(TenantCrypto::derive(&keyring, tenant).unwrap());
        let started = Instant::now();
        let residents = store
            .import_residents(
                tenant,
                crypto,
                std::io::Cursor::new(ArcBytes(feed.clone())),
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
        assert_eq!(
            residents.status,
            sesshu_store::ImportStatus::Applied,
            "{:?}",
            residents.message
        );
        let book = engine.rules();
        let summary = store
            .import_doses(
                tenant,
                &engine,
                std::io::Cursor::new(ArcBytes(doses.clone())),
                DoseImportOptions {
                    all_or_nothing: false,
                    dry_run: false,
                    file_name: "doses.csv".into(),
                    operator: "bench".into(),
                    read: DoseReadOptions {
                        today: Some(today),
                        products: book.product_codes(),
                        tests: book.test_codes(),
                        ..DoseReadOptions::default()
                    },
                    today,
                },
                |_| {},
                |_| {},
            )
            .await
            .unwrap();
        println!(
            "{}: register ready in {:.0} s ({} doses)",
            db.name,
            started.elapsed().as_secs_f64(),
            summary.inserted
        );
        account(&store, tenant, "bench", "role:clerk").await;
        let state = AppState::new(store.clone(), Arc::new(keyring), engine.clone());
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
        let client: Client<_, http_body_util::Full<bytes::Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        if clinic_load {
            clinic_checks(
                &store,
                tenant,
                addr,
                &client,
                &clinic_targets,
                sessions,
                seconds,
                db.name,
                persons,
            )
            .await;
        }
        if !pages_load {
            server.abort();
            store.close().await;
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        let targets = Arc::new(with_doses.clone());
        let kana = Arc::new(kana.clone());
        for i in 0..sessions {
            let s = store
                .start_session(tenant, "bench", None, chrono::Utc::now())
                .await
                .unwrap();
            let (client, targets, kana) = (client.clone(), targets.clone(), kana.clone());
            tasks.push(tokio::spawn(async move {
                let mut person_ms = Vec::new();
                let mut search_ms = Vec::new();
                let mut n = i * 7919;
                while Instant::now() < deadline {
                    n += 1;
                    let a = &targets[n * 31 % targets.len()];
                    let request = hyper::Request::get(format!("http://{addr}/persons/{a}"))
                        .header("cookie", format!("sesshu_session={}", s.cookie))
                        .body(http_body_util::Full::default())
                        .unwrap();
                    let t = Instant::now();
                    let r = client.request(request).await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.into_body().collect().await.unwrap();
                    person_ms.push(t.elapsed().as_micros() as u64);
                    let k = &kana[n % kana.len()];
                    let body: String = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("csrf", &s.csrf_token)
                        .append_pair("kana", k)
                        .finish();
                    let request = hyper::Request::post(format!("http://{addr}/search"))
                        .header("cookie", format!("sesshu_session={}", s.cookie))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                        .unwrap();
                    let t = Instant::now();
                    let r = client.request(request).await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.into_body().collect().await.unwrap();
                    search_ms.push(t.elapsed().as_micros() as u64);
                }
                (person_ms, search_ms)
            }));
        }
        let mut person = Vec::new();
        let mut search = Vec::new();
        for t in tasks {
            let (p, s) = t.await.unwrap();
            person.extend(p);
            search.extend(s);
        }
        server.abort();
        person.sort_unstable();
        search.sort_unstable();
        for (what, v) in [("person page", &person), ("kana search", &search)] {
            println!(
                "{}: {what}: {} requests, p50 {:.1} ms, p99 {:.1} ms, {:.0} requests/s ({sessions} sessions, {persons} persons)",
                db.name,
                v.len(),
                percentile(v, 0.50),
                percentile(v, 0.99),
                v.len() as f64 / seconds as f64,
            );
        }
        store.close().await;
    }
}

/// Clinic sessions asking, without pause, whether a 5種混合 dose today would be routine for a
/// person found by 宛名番号 and birth date: the JSON API a clinic's system calls.
#[allow(clippy::too_many_arguments)]
async fn clinic_checks(
    store: &Store,
    tenant: MunicipalityCode,
    addr: SocketAddr,
    client: &Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    targets: &[(String, String)],
    sessions: usize,
    seconds: u64,
    backend: &str,
    persons: usize,
) {
    account(store, tenant, "clinicbench", "role:clinic").await;
    store
        .set_institution(tenant, "clinicbench", Some("1312345678"))
        .await
        .unwrap();
    let targets = Arc::new(targets.to_vec());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..sessions {
        let s = store
            .start_session(tenant, "clinicbench", None, chrono::Utc::now())
            .await
            .unwrap();
        let (client, targets) = (client.clone(), targets.clone());
        tasks.push(tokio::spawn(async move {
            let mut ms = Vec::new();
            let mut n = i * 7919;
            while Instant::now() < deadline {
                n += 1;
                let (a, b) = &targets[n * 31 % targets.len()];
                let body = serde_json::json!({"address_number": a, "birth_date": b, "product": "dpt_ipv_hib"});
                let request = hyper::Request::post(format!(
                    "http://{addr}/api/v1/municipalities/{}/clinic-checks",
                    tenant.as_string()
                ))
                .header("cookie", format!("sesshu_session={}", s.cookie))
                .header("x-csrf-token", &s.csrf_token)
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
                .unwrap();
                let t = Instant::now();
                let r = client.request(request).await.unwrap();
                assert_eq!(r.status(), 200);
                r.into_body().collect().await.unwrap();
                ms.push(t.elapsed().as_micros() as u64);
            }
            ms
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    println!(
        "{backend}: clinic check: {} requests, p50 {:.1} ms, p99 {:.1} ms, {:.0} requests/s ({sessions} sessions, {persons} persons)",
        all.len(),
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all.len() as f64 / seconds as f64,
    );
}

/// An account holding one role, without a forced password change.
async fn account(store: &Store, tenant: MunicipalityCode, login: &str, role: &str) {
    let since = sesshu_testkit::day("2020-01-01");
    let new = NewAccount {
        login: login.into(),
        display_name: login.into(),
        shared: false,
        shared_with: None,
        valid_from: since,
        valid_until: None,
    };
    let policy = sesshu_domain::access::PasswordPolicy::default();
    store
        .create_account(tenant, &new, "first1234", &policy, "bench")
        .await
        .unwrap();
    store
        .grant(tenant, login, role, since, None, "bench")
        .await
        .unwrap();
}

#[derive(Clone)]
struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}
