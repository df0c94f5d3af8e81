//! The audit chain on every backend: appended, refused to be rewritten by the database, and any
//! change, removal, insertion or reordering found by `verify_audit`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use sesshu_domain::MunicipalityCode;
use sesshu_store::{AuditEvent, AuditQuery, Outcome, Store};
use sesshu_testkit::backends;

const MACHIDA: &str = "132098";
const SAPPORO: &str = "011002";

fn code(s: &str) -> MunicipalityCode {
    MunicipalityCode::parse(s).unwrap()
}

fn event(function: &str, shown: &[&str]) -> AuditEvent {
    AuditEvent {
        actor: "cli:tanaka".into(),
        actor_kind: "cli",
        source: Some("host-1".into()),
        function: function.into(),
        outcome: Outcome::Ok,
        persons_acted: vec![],
        persons_shown: shown.iter().map(|s| (*s).to_owned()).collect(),
        detail: json!({"kana": "サトウ"}),
    }
}

/// A fresh store of each backend with five Machida entries and one deployment entry.
async fn logged() -> Vec<(Store, &'static str, sesshu_testkit::TestDb)> {
    let mut out = Vec::new();
    for db in backends().await {
        let store = Store::connect(&db.url).await.unwrap();
        store
            .create_municipality(code(MACHIDA), "町田市")
            .await
            .unwrap();
        store
            .create_municipality(code(SAPPORO), "札幌市")
            .await
            .unwrap();
        for i in 0..5 {
            let shown = if i == 2 {
                vec!["100001", "100002"]
            } else {
                vec!["100003"]
            };
            let seq = store
                .audit(Some(code(MACHIDA)), event("person.read", &shown))
                .await
                .unwrap();
            assert_eq!(seq, i + 1);
        }
        store.audit(None, event("audit.verify", &[])).await.unwrap();
        out.push((store, db.name, db));
    }
    out
}

/// Lets a test play the attacker with database access: the append-only triggers off.
async fn disable_triggers(store: &Store, backend: &str) {
    let statements: &[&'static str] = if backend == "sqlite" {
        &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
        ]
    } else {
        &["ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"]
    };
    for s in statements {
        store.raw_execute_for_tests(s).await.unwrap();
    }
}

#[tokio::test]
async fn an_intact_log_verifies_and_the_database_refuses_rewrites() {
    for (store, backend, _db) in logged().await {
        let v = store.verify_audit(None).await.unwrap();
        assert_eq!((v.entries, v.chains, v.broken), (6, 2, None), "{backend}");
        for sql in ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"] {
            assert!(
                store.raw_execute_for_tests(sql).await.is_err(),
                "{backend}: {sql} must be refused"
            );
        }
        let entries = store
            .audit_entries(
                Some(code(MACHIDA)),
                &AuditQuery {
                    limit: 100,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(entries.len(), 5);
        assert!(
            entries[0].at.ends_with("+09:00"),
            "{}: time with its zone",
            entries[0].at
        );
        assert_eq!(entries[0].source.as_deref(), Some("host-1"));
    }
}

#[tokio::test]
async fn a_changed_entry_is_found() {
    for (store, backend, _db) in logged().await {
        disable_triggers(&store, backend).await;
        store
            .raw_execute_for_tests(
                "UPDATE audit_log SET persons_shown = '[]' WHERE municipality_code = '132098' AND seq = 3",
            )
            .await
            .unwrap();
        let broken = store.verify_audit(None).await.unwrap().broken.unwrap();
        assert_eq!(
            (broken.municipality_code.as_str(), broken.seq),
            (MACHIDA, 3),
            "{backend}"
        );
        assert!(broken.reason.contains("改変"), "{}", broken.reason);
    }
}

#[tokio::test]
async fn a_removed_entry_is_found() {
    for (store, backend, _db) in logged().await {
        disable_triggers(&store, backend).await;
        store
            .raw_execute_for_tests(
                "DELETE FROM audit_log WHERE municipality_code = '132098' AND seq = 2",
            )
            .await
            .unwrap();
        let broken = store.verify_audit(None).await.unwrap().broken.unwrap();
        assert_eq!(broken.seq, 3, "{backend}: the entry after the gap");
    }
}

#[tokio::test]
async fn reordered_and_inserted_entries_are_found() {
    for (store, backend, _db) in logged().await {
        disable_triggers(&store, backend).await;
        // Swap entries 2 and 4 (their content and hashes move with them).
        for sql in [
            "UPDATE audit_log SET seq = 99 WHERE municipality_code = '132098' AND seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE municipality_code = '132098' AND seq = 4",
            "UPDATE audit_log SET seq = 4 WHERE municipality_code = '132098' AND seq = 99",
        ] {
            store.raw_execute_for_tests(sql).await.unwrap();
        }
        let broken = store.verify_audit(None).await.unwrap().broken.unwrap();
        assert_eq!(broken.seq, 2, "{backend}: reordering");
    }
    for (store, backend, _db) in logged().await {
        // An entry written in the middle: renumber the tail and slip a forged one in.
        disable_triggers(&store, backend).await;
        for sql in [
            "UPDATE audit_log SET seq = seq + 100 WHERE municipality_code = '132098' AND seq >= 3",
            "UPDATE audit_log SET seq = seq - 99 WHERE municipality_code = '132098' AND seq >= 103",
            "INSERT INTO audit_log (municipality_code, seq, at, actor, actor_kind, source, function, outcome, persons_acted, persons_shown, detail, prev_hash, hash) \
             SELECT municipality_code, 3, at, 'forger', actor_kind, source, function, outcome, persons_acted, persons_shown, detail, hash, hash FROM audit_log WHERE municipality_code = '132098' AND seq = 2",
        ] {
            store.raw_execute_for_tests(sql).await.unwrap();
        }
        let broken = store.verify_audit(None).await.unwrap().broken.unwrap();
        assert_eq!(broken.seq, 3, "{backend}: insertion");
    }
}

#[tokio::test]
async fn auditors_search_by_person_function_and_period_within_their_municipality() {
    for (store, backend, _db) in logged().await {
        let by_person = store
            .audit_entries(
                Some(code(MACHIDA)),
                &AuditQuery {
                    person: Some("100002".into()),
                    limit: 100,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(by_person.len(), 1, "{backend}");
        assert_eq!(by_person[0].seq, 3);
        let none = store
            .audit_entries(
                Some(code(MACHIDA)),
                &AuditQuery {
                    function: Some("dose.write".into()),
                    from: Some("2000-01-01".into()),
                    limit: 100,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        assert!(none.is_empty());
        let other = store
            .audit_entries(
                Some(code(SAPPORO)),
                &AuditQuery {
                    limit: 100,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        assert!(
            other.is_empty(),
            "{backend}: Sapporo sees none of Machida's log"
        );
    }
}

/// Two processes (two stores on one database) appending to one chain, interleaved and at the
/// same time: every entry lands once and the chain stays whole.
#[tokio::test]
async fn two_writers_keep_one_chain() {
    for db in backends().await {
        let a = Store::connect(&db.url).await.unwrap();
        let b = Store::connect(&db.url).await.unwrap();
        a.create_municipality(code(MACHIDA), "町田市")
            .await
            .unwrap();
        for _ in 0..5 {
            a.audit(Some(code(MACHIDA)), event("person.read", &["100001"]))
                .await
                .unwrap();
            b.audit(Some(code(MACHIDA)), event("person.read", &["100002"]))
                .await
                .unwrap();
        }
        let writes = (0..10).map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                s.audit(Some(code(MACHIDA)), event("person.search", &["100003"]))
                    .await
                    .unwrap()
            })
        });
        for w in writes {
            w.await.unwrap();
        }
        let v = a.verify_audit(None).await.unwrap();
        assert_eq!((v.entries, v.broken), (20, None), "{}", db.name);
    }
}

/// Many requests at once: their entries are appended together (group commit), yet each gets its
/// own place in its municipality's chain, in order, and the chains verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_statements_and_keep_every_chain_whole() {
    for db in backends().await {
        let store = Store::connect(&db.url).await.unwrap();
        for (c, n) in [(MACHIDA, "町田市"), (SAPPORO, "札幌市")] {
            store.create_municipality(code(c), n).await.unwrap();
        }
        let writes: Vec<_> = (0..300)
            .map(|i| {
                let s = store.clone();
                let tenant = match i % 3 {
                    0 => Some(code(MACHIDA)),
                    1 => Some(code(SAPPORO)),
                    _ => None,
                };
                tokio::spawn(async move {
                    let shown = format!("{:06}", 100_000 + i);
                    let seq = s
                        .audit(tenant, event("person.read", &[shown.as_str()]))
                        .await
                        .unwrap();
                    (tenant, seq, shown)
                })
            })
            .collect();
        let mut seqs: std::collections::HashMap<Option<MunicipalityCode>, Vec<i64>> =
            Default::default();
        let mut results = Vec::new();
        for w in writes {
            let (t, seq, shown) = w.await.unwrap();
            seqs.entry(t).or_default().push(seq);
            results.push((t, seq, shown));
        }
        for (t, mut v) in seqs {
            v.sort_unstable();
            assert_eq!(v, (1..=100).collect::<Vec<i64>>(), "{}: {t:?}", db.name);
        }
        // Each caller's sequence number is the entry holding its own event.
        for (t, seq, shown) in results.iter().filter(|(t, _, _)| t.is_some()).take(20) {
            let found = store
                .audit_entries(
                    *t,
                    &AuditQuery {
                        person: Some(shown.clone()),
                        limit: 10,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(found.len(), 1, "{}", db.name);
            assert_eq!(found[0].seq, *seq, "{}", db.name);
        }
        let v = store.verify_audit(None).await.unwrap();
        assert_eq!((v.entries, v.broken), (300, None), "{}", db.name);
    }
}

/// The retention job removes old entries and leaves a summary signed with the deployment's key;
/// the chain then verifies from where the summary says — with the key, and only with it.
#[tokio::test]
async fn retention_leaves_a_signed_summary_that_verify_trusts_only_with_the_key() {
    let keys = sesshu_crypto::Keyring::generate();
    for (store, backend, _db) in logged().await {
        let removed = store
            .retain_audit(
                Some(code(MACHIDA)),
                "2999-01-01",
                &keys,
                event("audit.retention", &[]),
            )
            .await
            .unwrap();
        assert_eq!(removed, Some(5), "{backend}");
        store
            .audit(Some(code(MACHIDA)), event("person.read", &["100009"]))
            .await
            .unwrap();
        let v = store.verify_audit(Some(&keys)).await.unwrap();
        assert_eq!(
            v.broken, None,
            "{backend}: the signed summary anchors the chain"
        );
        let entries = store
            .audit_entries(
                Some(code(MACHIDA)),
                &AuditQuery {
                    limit: 100,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![6, 7]
        );
        assert_eq!(entries[0].function, "audit.retention");
        assert!(entries[0].detail.contains("\"removed\":5"));

        let without = store.verify_audit(None).await.unwrap();
        assert!(
            without.broken.is_some(),
            "{backend}: no key, no trust in a removal"
        );
        let other = sesshu_crypto::Keyring::generate();
        assert!(
            store
                .verify_audit(Some(&other))
                .await
                .unwrap()
                .broken
                .is_some()
        );
        // Everything is still refused outside the job.
        assert!(
            store
                .raw_execute_for_tests("DELETE FROM audit_log")
                .await
                .is_err(),
            "{backend}"
        );
        // Nothing old left: a second run removes nothing.
        assert_eq!(
            store
                .retain_audit(
                    Some(code(MACHIDA)),
                    "2000-01-01",
                    &keys,
                    event("audit.retention", &[])
                )
                .await
                .unwrap(),
            None
        );
    }
}

/// A forged summary (written by someone with database access but without the key) is not
/// trusted: the removal it hides is found.
#[tokio::test]
async fn a_forged_retention_summary_is_not_trusted() {
    let keys = sesshu_crypto::Keyring::generate();
    for (store, backend, _db) in logged().await {
        disable_triggers(&store, backend).await;
        store
            .raw_execute_for_tests(
                "DELETE FROM audit_log WHERE municipality_code = '132098' AND seq <= 2",
            )
            .await
            .unwrap();
        store
            .audit(
                Some(code(MACHIDA)),
                AuditEvent {
                    function: "audit.retention".into(),
                    detail: json!({"first_kept_seq": 3, "anchor": "00", "signature": "v1:00"}),
                    ..event("audit.retention", &[])
                },
            )
            .await
            .unwrap();
        let broken = store
            .verify_audit(Some(&keys))
            .await
            .unwrap()
            .broken
            .unwrap();
        assert_eq!(broken.seq, 3, "{backend}");
    }
}

/// An attacker with database access rewrites an entry and recomputes every hash after it: the
/// plain chain verifies, but the signed checkpoint no longer does.
#[tokio::test]
async fn a_recomputed_tail_is_caught_by_the_signed_checkpoint() {
    let keys = sesshu_crypto::Keyring::generate();
    for (store, backend, _db) in logged().await {
        assert_eq!(
            store
                .checkpoint_audit(&keys, event("audit.checkpoint", &[]))
                .await
                .unwrap(),
            2
        );
        store
            .audit(Some(code(MACHIDA)), event("person.read", &["100004"]))
            .await
            .unwrap();
        assert_eq!(
            store.verify_audit(Some(&keys)).await.unwrap().broken,
            None,
            "{backend}"
        );

        disable_triggers(&store, backend).await;
        let mut entries = store
            .audit_entries(
                Some(code(MACHIDA)),
                &AuditQuery {
                    limit: 100,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        entries[1].persons_shown = "[]".into();
        let mut prev = entries[0].hash.clone();
        for e in entries.iter_mut().skip(1) {
            e.prev_hash = prev.clone();
            e.hash = e.compute_hash();
            prev = e.hash.clone();
            let sql = format!(
                "UPDATE audit_log SET persons_shown = '{}', prev_hash = '{}', hash = '{}' \
                 WHERE municipality_code = '132098' AND seq = {}",
                e.persons_shown, e.prev_hash, e.hash, e.seq
            );
            store
                .raw_execute_for_tests(Box::leak(sql.into_boxed_str()))
                .await
                .unwrap();
        }
        assert_eq!(
            store.verify_audit(None).await.unwrap().broken,
            None,
            "{backend}: without the key the recomputed chain looks whole"
        );
        let broken = store
            .verify_audit(Some(&keys))
            .await
            .unwrap()
            .broken
            .unwrap();
        assert_eq!(broken.seq, 6, "{backend}: the checkpoint after the rewrite");
        assert!(broken.reason.contains("確認点"), "{}", broken.reason);
    }
}

/// On SQLite the log is kept in its own file (`sesshu.audit.db`): a register written before
/// that keeps every entry, moved there by the migration, still refused any rewrite.
#[tokio::test]
async fn sqlite_moves_the_log_into_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let register = dir.path().join("sesshu.db");
    let url = format!("sqlite://{}?mode=rwc", register.display());
    // The register as the release before the move left it, with two entries.
    let mut before = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/sqlite"
    )))
    .await
    .unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 13)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let old = sqlx::SqlitePool::connect(&url).await.unwrap();
    before.run(&old).await.unwrap();
    for (seq, actor) in [(1, "cli:tanaka"), (2, "user:suzuki")] {
        sqlx::query(
            "INSERT INTO audit_log VALUES ('132098', ?, '2026-04-01T09:00:00.000+09:00', ?, 'cli', NULL, \
             'person.read', 'ok', '[]', '[\"100001\"]', '{}', 'prev', 'hash')",
        )
        .bind(seq)
        .bind(actor)
        .execute(&old)
        .await
        .unwrap();
    }
    old.close().await;

    let store = Store::connect(&url).await.unwrap();
    assert!(sesshu_store::audit_file_of(&register).exists());
    assert_eq!(
        store
            .raw_texts_for_tests("SELECT actor FROM audit_log ORDER BY seq")
            .await
            .unwrap(),
        ["cli:tanaka", "user:suzuki"]
    );
    assert!(
        store
            .raw_texts_for_tests("SELECT name FROM main.sqlite_master WHERE name LIKE 'audit_log%'")
            .await
            .unwrap()
            .is_empty(),
        "nothing of the log is left in the register's file"
    );
    for sql in ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"] {
        let e = store.raw_execute_for_tests(sql).await.unwrap_err();
        assert!(format!("{e:?}").contains("append-only"), "{sql}: {e:?}");
    }
    // New entries continue in the same file.
    store
        .audit(Some(code(MACHIDA)), event("person.read", &["100002"]))
        .await
        .unwrap();
    assert_eq!(
        store
            .raw_texts_for_tests("SELECT CAST(COUNT(*) AS TEXT) FROM audit.audit_log")
            .await
            .unwrap(),
        ["3"]
    );
}

/// A SQLite register restored without its audit log is refused at once, naming the missing
/// file, instead of failing on the first operation to be recorded.
#[tokio::test]
async fn sqlite_refuses_a_register_without_its_audit_file() {
    let dir = tempfile::tempdir().unwrap();
    let register = dir.path().join("sesshu.db");
    let url = format!("sqlite://{}", register.display());
    let store = Store::connect(&url).await.unwrap();
    store
        .create_municipality(code(MACHIDA), "町田市")
        .await
        .unwrap();
    store
        .audit(Some(code(MACHIDA)), event("person.read", &["100001"]))
        .await
        .unwrap();
    store.close().await;
    drop(store);
    let log = sesshu_store::audit_file_of(&register);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", log.display()));
    }
    let e = Store::connect(&url).await.unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("sesshu.audit.db") && message.contains("監査ログ"),
        "{message}"
    );
}
