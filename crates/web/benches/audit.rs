//! Audit benchmarks (BENCHMARKS.md), on SQLite and PostgreSQL in one run:
//! 1. a person read (person, household, history, doses, forecast) with and without its audit
//!    entry, alternating rounds;
//! 2. `verify_audit` over a log of SESSHU_BENCH_AUDIT_ENTRIES entries (default 10,000,000), with
//!    the process's peak memory before and after.
//!
//! `cargo bench -p sesshu-web --bench audit` (PostgreSQL as for the tests: scripts/postgres.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::MunicipalityCode;
use sesshu_formats::{ReadOptions, TextEncoding};
use sesshu_store::{AuditEvent, ImportMode, ImportOptions, Outcome, Store};

const PERSONS: usize = 20_000;
const READS: usize = 2_000;
const ROUNDS: usize = 3;

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

#[tokio::main]
async fn main() {
    let entries: u64 = std::env::var("SESSHU_BENCH_AUDIT_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let engine = sesshu_schedule::Engine::new(sesshu_schedule::RuleBook::builtin().unwrap());
    for db in sesshu_testkit::backends().await {
        // As deployed: every append also moves the chain's head kept outside the database.
        let heads = tempfile::tempdir().unwrap();
        let store = Store::connect(&db.url)
            .await
            .unwrap()
            .with_audit_anchor(sesshu_store::AuditAnchor::new(heads.path()));
        let tenant = MunicipalityCode::parse("132098").unwrap();
        store.create_municipality(tenant, "町田市").await.unwrap();
        let keyring = Keyring::generate();
        let crypto = Arc::new(TenantCrypto::derive(&keyring, tenant).unwrap());
        let people = sesshu_testkit::town(PERSONS, 1);
        store
            .import_residents(
                tenant,
                crypto.clone(),
                std::io::Cursor::new(sesshu_testkit::feed(&people, TextEncoding::Utf8)),
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
        let today = sesshu_testkit::as_of();
        let targets: Vec<_> = people
            .iter()
            .step_by(PERSONS / READS)
            .map(|p| p.address_number.clone())
            .collect();
        let read = |audited: bool| {
            let (store, crypto, engine, targets) = (&store, &crypto, &engine, &targets);
            async move {
                let started = Instant::now();
                for a in targets {
                    // As the API and `person show` do: the entry written while the rest of the
                    // person is read.
                    let record = |shown: Vec<String>| async move {
                        if audited {
                            store
                                .audit(
                                    Some(tenant),
                                    AuditEvent {
                                        actor: "bench".into(),
                                        actor_kind: "cli",
                                        source: Some("bench".into()),
                                        function: "person.read".into(),
                                        outcome: Outcome::Ok,
                                        persons_acted: vec![],
                                        persons_shown: shown,
                                        detail: serde_json::json!({}),
                                    },
                                )
                                .await?;
                        }
                        Ok::<_, sesshu_store::StoreError>(())
                    };
                    sesshu_web::view::person_detail(
                        store, crypto, engine, tenant, a, today, record,
                    )
                    .await
                    .unwrap()
                    .unwrap();
                }
                started.elapsed().as_secs_f64() / targets.len() as f64 * 1e6
            }
        };
        read(false).await; // warm the cache
        let (mut plain, mut audited) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            plain.push(read(false).await);
            audited.push(read(true).await);
        }
        plain.sort_by(f64::total_cmp);
        audited.sort_by(f64::total_cmp);
        let (p, a) = (plain[ROUNDS / 2], audited[ROUNDS / 2]);
        println!(
            "{}: person read {p:.0} µs, with its audit entry {a:.0} µs, ratio {:.2} (median of {ROUNDS} rounds of {READS})",
            db.name,
            a / p
        );

        let started = Instant::now();
        store
            .append_audit_for_benchmarks(tenant, entries)
            .await
            .unwrap();
        let filled = started.elapsed().as_secs_f64();
        let before = peak_rss_mib();
        let started = Instant::now();
        let v = store.verify_audit(None).await.unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert!(v.broken.is_none());
        println!(
            "{}: audit verify over {} entries: {seconds:.1} s ({:.0} entries/s); peak RSS {} MiB before, {} MiB after (log written in {filled:.0} s)",
            db.name,
            v.entries,
            v.entries as f64 / seconds,
            before,
            peak_rss_mib()
        );
        store.close().await;
    }
}
