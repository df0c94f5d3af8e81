//! `sesshu import doses` and the doses in `person show`, as operators and scripts use them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{json, sesshu};
use sesshu_testkit::leaks_my_number;

#[tokio::test]
async fn import_doses_exit_codes_report_and_person_show() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        common::init_machida(d, &db.url);
        let generate = run(&[
            "demo",
            "generate",
            "--persons",
            "600",
            "--seed",
            "5",
            "--as-of",
            "2026-04-01",
            "--out",
            "town.csv",
            "--doses-out",
            "doses.csv",
        ]);
        assert!(generate.status.success());
        assert!(
            run(&["import", "residents", "town.csv", "--mode", "full"])
                .status
                .success()
        );

        let first = run(&["import", "doses", "doses.csv", "--json"]);
        assert_eq!(first.status.code(), Some(0), "{}: {:?}", db.name, first);
        let s = json(&first);
        let inserted = s["inserted"].as_u64().unwrap();
        assert!(inserted > 500, "{}: {s}", db.name);
        for key in ["inserted", "flagged", "duplicate", "rejected"] {
            assert!(s[key].is_u64(), "{key} missing: {s}");
        }
        assert!(
            s["flagged"].as_u64().unwrap() > 0,
            "the demo town has a few invalid doses"
        );
        assert_eq!(s["rejected"], 0);

        let again = run(&["import", "doses", "doses.csv", "--json"]);
        assert_eq!(again.status.code(), Some(0));
        assert_eq!(json(&again)["inserted"], 0);
        assert_eq!(json(&again)["duplicate"].as_u64(), Some(inserted));

        // One good new row and one that cannot be a dose.
        let text = std::fs::read_to_string(d.join("doses.csv")).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let row = lines.next().unwrap();
        let fields: Vec<&str> = row.split(',').collect();
        let mut good = fields.clone();
        good[8] = "je";
        good[9] = "1";
        good[10] = "20260301";
        let mut bad = fields.clone();
        bad[8] = "xyz";
        std::fs::write(
            d.join("more.csv"),
            format!("{header}\n{}\n{}\n", good.join(","), bad.join(",")),
        )
        .unwrap();
        let partial = run(&["import", "doses", "more.csv", "--json", "--all-or-nothing"]);
        assert_eq!(
            partial.status.code(),
            Some(2),
            "{}: all or nothing",
            db.name
        );
        let partial = run(&["import", "doses", "more.csv", "--json"]);
        assert_eq!(partial.status.code(), Some(3), "{}", db.name);
        let p = json(&partial);
        assert_eq!(
            (p["inserted"].as_u64(), p["rejected"].as_u64()),
            (Some(1), Some(1))
        );
        let report = std::fs::read_to_string(d.join("more.csv.errors.csv")).unwrap();
        assert!(
            report.contains("\n3,ワクチン,不明なワクチンコード"),
            "{report}"
        );

        // person show: the doses with their judgement, and the forecast.
        let address = fields[3];
        let show = run(&["person", "show", address, "--json"]);
        assert!(show.status.success());
        let detail = json(&show);
        let doses = detail["doses"].as_array().unwrap();
        assert!(!doses.is_empty(), "{}", db.name);
        assert!(
            doses
                .iter()
                .all(|d| d.get("routine").is_some() && d.get("evaluation").is_some())
        );
        assert!(
            doses
                .iter()
                .any(|d| d["product"] == "je" && d["given_on"] == "2026-03-01")
        );
        assert!(detail["schedule"]["hib"].get("next_dose").is_some());
        assert!(detail["schedule"]["je"].get("eligible").is_some());
        assert!(!leaks_my_number(&String::from_utf8_lossy(&show.stdout)));
        let due = run(&["schedule", "due", "--as-of", "2026-04-01", "--json"]);
        assert!(
            due.status.success(),
            "{}",
            String::from_utf8_lossy(&due.stderr)
        );
        let due = json(&due);
        assert_eq!(due["persons"], 600, "{}: every person is forecast", db.name);
        assert!(due["series"]["hib"]["in_target"].as_u64().unwrap() > 0);
        assert!(
            due["series"]["hib"]["eligible"].as_u64() <= due["series"]["hib"]["in_target"].as_u64()
        );
        // By hand: add, correct (the old version kept with why), delete.
        let added = run(&[
            "dose",
            "add",
            address,
            "--vaccine",
            "bcg",
            "--dose",
            "1",
            "--date",
            "2026-03-20",
            "--lot",
            "L1",
            "--json",
        ]);
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        let id = json(&added)["dose_id"].as_i64().unwrap().to_string();
        let fixed = run(&[
            "dose",
            "correct",
            &id,
            "--lot",
            "L2",
            "--reason",
            "ロット誤記",
            "--json",
        ]);
        assert!(
            fixed.status.success(),
            "{}",
            String::from_utf8_lossy(&fixed.stderr)
        );
        assert_eq!(json(&fixed)["version"], 2);
        let no_reason = run(&["dose", "delete", &id, "--reason", ""]);
        assert!(!no_reason.status.success(), "a deletion needs a reason");
        assert!(
            run(&["dose", "delete", &id, "--reason", "重複登録"])
                .status
                .success()
        );
        let history = json(&run(&["dose", "history", &id, "--json"]));
        let versions = history.as_array().unwrap();
        assert_eq!(versions.len(), 3, "{}: {history}", db.name);
        assert_eq!(versions[0]["lot"], "L1");
        assert_eq!(versions[1]["change_reason"], "ロット誤記");
        assert_eq!(versions[2]["deleted"], true);
        let future = run(&[
            "dose",
            "add",
            address,
            "--vaccine",
            "bcg",
            "--dose",
            "1",
            "--date",
            "2099-01-01",
        ]);
        assert!(!future.status.success());
        let unknown = run(&[
            "dose",
            "add",
            address,
            "--vaccine",
            "nope",
            "--dose",
            "1",
            "--date",
            "2026-01-01",
        ]);
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("不明なワクチンコード"));

        let plain = run(&["person", "show", address]);
        let plain = String::from_utf8_lossy(&plain.stdout);
        assert!(
            plain.contains("接種記録") && plain.contains("予定"),
            "{plain}"
        );
    }
}
