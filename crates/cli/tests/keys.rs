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
        assert!(
            run(&["init", "--municipality", "132098", "--name", "町田市"])
                .status
                .success()
        );
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
        let town = std::fs::read_to_string(d.join("town.csv")).unwrap();
        let with_number = town
            .lines()
            .skip(1)
            .find(|l| l.split(',').nth(2).is_some_and(|n| !n.is_empty()))
            .unwrap();
        let address = with_number.split(',').next().unwrap();
        let before = json(&run(&["person", "show", address, "--json"]));

        let rotated = run(&["keys", "rotate", "--batch", "50", "--json"]);
        assert!(rotated.status.success(), "{}: {}", db.name, text(&rotated));
        let r = json(&rotated);
        assert_eq!(r["version"], 2);
        assert!(r["resealed"].as_u64().unwrap() > 100);
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
    }
}
