//! The audit log as operators and auditors use it: every read and change leaves an entry, the
//! auditor exports by person, and `audit verify` finds tampering.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{json, sesshu, text};
use sesshu_testkit::leaks_my_number;

#[tokio::test]
async fn reads_and_changes_are_audited_and_tampering_is_found() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        common::init_machida(d, &db.url);
        assert!(
            run(&[
                "demo",
                "generate",
                "--persons",
                "300",
                "--seed",
                "6",
                "--as-of",
                "2026-04-01",
                "--encoding",
                "utf8",
                "--out",
                "town.csv"
            ])
            .status
            .success()
        );
        assert!(
            run(&["import", "residents", "town.csv", "--mode", "full"])
                .status
                .success()
        );
        let search = json(&run(&[
            "person",
            "search",
            "--birth-date",
            "2026-03-31",
            "--json",
        ]));
        let town = std::fs::read_to_string(d.join("town.csv")).unwrap();
        let address = town
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_owned();
        assert!(run(&["person", "show", &address]).status.success());
        assert!(
            run(&[
                "dose",
                "add",
                &address,
                "--vaccine",
                "flu",
                "--dose",
                "1",
                "--date",
                "2025-11-01"
            ])
            .status
            .success()
        );

        let export = run(&["audit", "export", "--person", &address]);
        assert!(export.status.success(), "{}", text(&export));
        let csv = String::from_utf8(export.stdout.clone()).unwrap();
        assert!(
            csv.contains("\"宛名の閲覧\",\"person.read\",\"成功\""),
            "{}: {csv}",
            db.name
        );
        assert!(csv.contains("dose.write"));
        assert!(csv.contains("cli:tester"), "the operator is named");
        assert!(
            !leaks_my_number(&csv),
            "{}: no My Number in an audit export",
            db.name
        );
        let all = String::from_utf8(run(&["audit", "export"]).stdout).unwrap();
        assert!(all.contains("import.residents"));
        assert!(all.contains("person.search"));
        let shown = search["rows"].as_array().unwrap().len();
        assert_eq!(
            search["total"].as_u64(),
            Some(shown as u64),
            "one page holds them all"
        );
        assert!(
            all.contains(&format!("\"\"rows\"\":{shown}")),
            "search rows recorded: {all}"
        );

        let ok = run(&["audit", "verify", "--json", "--heads-out", "heads.json"]);
        assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
        assert_eq!(json(&ok)["intact"], true);
        let again = run(&["audit", "verify", "--json", "--heads", "heads.json"]);
        assert_eq!(
            again.status.code(),
            Some(0),
            "{}: kept heads still hold",
            db.name
        );
        // A kept head that the log no longer holds is a rewrite.
        let kept = std::fs::read_to_string(d.join("heads.json")).unwrap();
        let mut heads: serde_json::Value = serde_json::from_str(&kept).unwrap();
        heads[0]["hash"] = serde_json::json!("0".repeat(64));
        std::fs::write(d.join("forged.json"), heads.to_string()).unwrap();
        let forged = run(&["audit", "verify", "--json", "--heads", "forged.json"]);
        assert_eq!(forged.status.code(), Some(4), "{}", text(&forged));
        assert!(
            json(&forged)["broken"]["reason"]
                .as_str()
                .unwrap()
                .contains("先頭ハッシュ")
        );

        // The attacker with database access edits an entry.
        let store = sesshu_store::Store::connect(&db.url).await.unwrap();
        let own = store
            .audit_entries(
                None,
                &sesshu_store::AuditQuery {
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for f in ["keys.create", "municipality.create", "audit.checkpoint"] {
            assert!(
                own.iter().any(|e| e.function == f),
                "{}: {f} in the deployment's log",
                db.name
            );
        }
        if db.name == "sqlite" {
            store
                .raw_execute_for_tests("DROP TRIGGER audit_log_no_update")
                .await
                .unwrap();
        } else {
            store
                .raw_execute_for_tests(
                    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                )
                .await
                .unwrap();
        }
        store
            .raw_execute_for_tests(
                "UPDATE audit_log SET actor = 'someone' WHERE function = 'person.read'",
            )
            .await
            .unwrap();
        store.close().await;
        let broken = run(&["audit", "verify", "--json"]);
        assert_eq!(
            broken.status.code(),
            Some(4),
            "{}: {}",
            db.name,
            text(&broken)
        );
        let b = json(&broken);
        assert_eq!(b["intact"], false);
        assert_eq!(b["broken"]["municipality_code"], "132098");
        assert!(b["broken"]["seq"].as_i64().unwrap() > 1);
    }
}

/// Only `init` creates a register: any other command on a path that is not there (a typo) is
/// refused naming the path, and creates nothing — an empty register would verify as intact.
/// A PostgreSQL database never initialised is refused the same way, and left empty.
#[tokio::test]
async fn a_missing_register_is_refused_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let typo = d.join("typo.db");
    let url = format!("sqlite://{}", typo.display());
    for args in [
        &["audit", "verify"][..],
        &["person", "search", "--kana", "サ"][..],
        &["serve", "--listen", "127.0.0.1:0"][..],
    ] {
        let out = common::sesshu(d, &url, args);
        assert!(!out.status.success(), "{args:?}: {}", common::text(&out));
        let said = common::text(&out);
        assert!(
            said.contains("typo.db") && said.contains("sesshu init"),
            "{args:?}: {said}"
        );
        assert!(!typo.exists(), "{args:?} created the file");
        assert!(!d.join("typo.audit.db").exists());
    }
    if let Some(pg) = sesshu_testkit::postgres().await {
        let out = common::sesshu(d, &pg.url, &["audit", "verify"]);
        assert!(!out.status.success(), "{}", common::text(&out));
        assert!(common::text(&out).contains("sesshu init"));
        // Still never initialised: init then works on it.
        let init = common::sesshu(
            d,
            &pg.url,
            &["init", "--municipality", "132098", "--name", "町田市"],
        );
        assert!(init.status.success(), "{}", common::text(&init));
        assert!(
            common::sesshu(d, &pg.url, &["audit", "verify"])
                .status
                .success()
        );
    }
}

/// Someone with the database but not the key file's directory cuts the log short: the last
/// entries, a whole municipality's chain, every entry. What remains still links up, so only the
/// heads kept beside the key file as the log advanced show it — and `audit verify` compares
/// with them without being asked.
#[tokio::test]
async fn a_log_cut_short_is_found_against_the_heads_kept_outside() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        common::init_machida(d, &db.url);
        for kana in ["ア", "イ", "ウ", "エ"] {
            assert!(run(&["person", "search", "--kana", kana]).status.success());
        }
        let ok = run(&["audit", "verify", "--json"]);
        assert_eq!(ok.status.code(), Some(0), "{}: {}", db.name, text(&ok));
        assert!(
            json(&ok)["anchored"].as_u64().unwrap() >= 2,
            "{}: both chains compared: {}",
            db.name,
            text(&ok)
        );
        assert!(
            d.join("keys/audit-heads/132098.head").exists(),
            "kept beside the key file"
        );
        let said = text(&run(&["audit", "verify"]));
        assert!(said.contains("先頭"), "{said}");

        let store = sesshu_store::Store::connect(&db.url).await.unwrap();
        store
            .raw_execute_for_tests(if db.name == "sqlite" {
                "DROP TRIGGER audit_log_no_delete"
            } else {
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"
            })
            .await
            .unwrap();
        let last = store
            .audit_heads_now()
            .await
            .unwrap()
            .into_iter()
            .find(|(c, _, _)| c == "132098")
            .unwrap()
            .1;
        store
            .raw_execute_for_tests(&format!(
                "DELETE FROM audit_log WHERE municipality_code = '132098' AND seq > {}",
                last - 3
            ))
            .await
            .unwrap();
        let cut = run(&["audit", "verify", "--json"]);
        assert_eq!(cut.status.code(), Some(4), "{}: {}", db.name, text(&cut));
        let b = json(&cut);
        assert_eq!(b["broken"]["municipality_code"], "132098");
        assert_eq!(b["broken"]["seq"].as_i64(), Some(last - 2));
        assert!(
            b["broken"]["reason"]
                .as_str()
                .unwrap()
                .contains("末尾の削除"),
            "{b}"
        );
        // What is left links up: without the kept heads it would have passed.
        let blind = run(&["audit", "verify", "--no-anchor"]);
        assert_eq!(blind.status.code(), Some(0), "{}", text(&blind));
        assert!(text(&blind).contains("--no-anchor"));
        // A later append does not move the kept head back to the shortened log.
        assert!(run(&["person", "search", "--kana", "オ"]).status.success());
        assert_eq!(run(&["audit", "verify"]).status.code(), Some(4));

        store
            .raw_execute_for_tests("DELETE FROM audit_log WHERE municipality_code = '132098'")
            .await
            .unwrap();
        let gone = json(&run(&["audit", "verify", "--json"]));
        assert_eq!(gone["broken"]["municipality_code"], "132098", "{gone}");
        assert!(
            gone["broken"]["reason"]
                .as_str()
                .unwrap()
                .contains("連鎖ごとの削除"),
            "{gone}"
        );

        store
            .raw_execute_for_tests("DELETE FROM audit_log")
            .await
            .unwrap();
        store.close().await;
        let empty = run(&["audit", "verify", "--json"]);
        assert_eq!(
            empty.status.code(),
            Some(4),
            "{}: an emptied log is not intact: {}",
            db.name,
            text(&empty)
        );
        // A damaged record is reported, not read as 'nothing kept'.
        std::fs::write(d.join("keys/audit-heads/132098.head"), "x\n").unwrap();
        let damaged = run(&["audit", "verify"]);
        assert!(!damaged.status.success());
        assert!(text(&damaged).contains("132098.head"), "{}", text(&damaged));
    }
}

#[tokio::test]
async fn the_assessment_figures_exit_3_when_a_band_is_left() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        common::init_machida(d, &db.url);
        assert!(
            run(&[
                "demo",
                "generate",
                "--persons",
                "300",
                "--seed",
                "6",
                "--as-of",
                "2026-04-01",
                "--encoding",
                "utf8",
                "--out",
                "town.csv"
            ])
            .status
            .success()
        );
        assert!(
            run(&["import", "residents", "town.csv", "--mode", "full"])
                .status
                .success()
        );
        let left = run(&["assessment", "--declared-persons", "1,000人以上1万人未満"]);
        assert_eq!(left.status.code(), Some(3), "{}: {}", db.name, text(&left));
        let t = text(&left);
        assert!(
            t.contains("対象人数: 300 (1,000人未満)") && t.contains("警告"),
            "{t}"
        );
        let same = run(&["assessment", "--declared-persons", "1,000人未満"]);
        assert_eq!(same.status.code(), Some(0), "{}: {}", db.name, text(&same));
        let wrong = run(&["assessment", "--declared-users", "大勢"]);
        assert!(
            !matches!(wrong.status.code(), Some(0 | 3)),
            "{}",
            text(&wrong)
        );
        assert!(text(&wrong).contains("選択肢"), "{}", text(&wrong));
        assert!(!leaks_my_number(&text(&left)));
    }
}
