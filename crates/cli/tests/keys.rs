//! `sesshu keys rotate` as an operator runs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{json, sesshu, text};

#[tokio::test]
async fn rotate_adds_a_version_reseals_and_keeps_the_key_file_private() {
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
                "8",
                "--encoding",
                "utf8",
                "--out",
                "town.csv",
                "--changes",
                "40",
                "--changes-out",
                "diff.csv"
            ])
            .status
            .success()
        );
        assert!(
            run(&["import", "residents", "town.csv", "--mode", "full"])
                .status
                .success()
        );
        let address = &common::first_with_my_number(&d.join("town.csv"));
        assert!(
            run(&["import", "residents", "diff.csv", "--mode", "diff"])
                .status
                .success()
        );
        let before = json(&run(&["person", "show", address, "--json"]));
        // A checkpoint signed under v1: it must still verify once v1 is retired.
        let verified = run(&["audit", "verify"]);
        assert!(verified.status.success(), "{}", text(&verified));

        // Nothing to retire yet: v1 is current, and after a version is merely added, v1 still
        // seals every number.
        let refused = run(&["keys", "retire", "--version", "1", "--json"]);
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
        assert_eq!(json(&refused)["retired"], false);
        let key_path = d.join("keys/sesshu.key");
        let v1_only = std::fs::read_to_string(&key_path).unwrap();
        let mut added = sesshu_crypto::Keyring::parse(&v1_only).unwrap();
        added.add_generated();
        added.write_file(&key_path).unwrap();
        let refused = run(&["keys", "retire", "--version", "1"]);
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
        assert!(
            text(&refused).contains("keys rotate"),
            "{}: the refusal says what to do: {}",
            db.name,
            text(&refused)
        );
        let status = json(&run(&["keys", "status", "--json"]));
        let v1_held = status["versions"][0]["my_numbers"].as_u64().unwrap();
        assert!(v1_held > 100, "{}: {status}", db.name);

        let rotated = run(&["keys", "rotate", "--batch", "50", "--json"]);
        assert!(rotated.status.success(), "{}: {}", db.name, text(&rotated));
        let r = json(&rotated);
        assert_eq!(r["version"], 2);
        assert_eq!(
            r["resealed"].as_u64().unwrap(),
            v1_held,
            "{}: the register and its history",
            db.name
        );
        let key_file = std::fs::read_to_string(d.join("keys/sesshu.key")).unwrap();
        assert!(
            key_file.contains("\nv1 ") && key_file.contains("\nv2 "),
            "old keys are kept"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.join("keys/sesshu.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let after = json(&run(&["person", "show", address, "--json"]));
        assert_eq!(
            before["person"]["my_number"], after["person"]["my_number"],
            "{}: the same number, masked, after rotation",
            db.name
        );
        let again = json(&run(&["keys", "rotate", "--json"]));
        assert_eq!(
            again["version"], 3,
            "a finished rotation starts the next one"
        );

        let current = run(&["keys", "retire", "--version", "3"]);
        assert_eq!(current.status.code(), Some(2), "the current key stays");
        for v in ["1", "2"] {
            let retired = run(&["keys", "retire", "--version", v, "--json"]);
            assert!(retired.status.success(), "{}: {}", db.name, text(&retired));
        }
        let key_file = std::fs::read_to_string(&key_path).unwrap();
        let v1_hex = v1_only.lines().find(|l| l.starts_with("v1 ")).unwrap();
        assert!(
            !key_file.contains(v1_hex.trim_start_matches("v1 ")),
            "the v1 master key is gone from the key file"
        );
        assert!(key_file.contains("v1 retired ") && key_file.contains("v2 retired "));
        let status = json(&run(&["keys", "status", "--json"]));
        assert_eq!(status["versions"][0]["state"], "retired");
        assert_eq!(status["versions"][2]["state"], "current");
        let last = json(&run(&["person", "show", address, "--json"]));
        assert_eq!(before["person"]["my_number"], last["person"]["my_number"]);
        let verified = run(&["audit", "verify"]);
        assert!(
            verified.status.success(),
            "{}: signatures made under a retired version still verify: {}",
            db.name,
            text(&verified)
        );
    }
}
