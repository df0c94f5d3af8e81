//! `sesshu user` and `sesshu access-review` as an administrator uses them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{json, sesshu, text};

#[tokio::test]
async fn users_are_created_granted_reviewed_and_separated() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        common::init_machida(d, &db.url);
        let add = run(&[
            "user",
            "add",
            "tanaka",
            "--name",
            "田中 花子",
            "--grant",
            "role:clerk",
        ]);
        assert!(add.status.success(), "{}: {}", db.name, text(&add));
        assert!(text(&add).contains("初回パスワード"));
        let add = run(&[
            "user",
            "add",
            "kanri",
            "--name",
            "管理 太郎",
            "--grant",
            "role:administrator",
        ]);
        assert!(add.status.success());
        let refused = run(&["user", "grant", "kanri", "audit.read"]);
        assert!(!refused.status.success(), "{}", db.name);
        assert!(text(&refused).contains("職務分離"), "{}", text(&refused));
        let bad = run(&["user", "grant", "tanaka", "person.delete"]);
        assert!(text(&bad).contains("権限「person.delete」はありません"));
        assert!(
            run(&["user", "disable", "tanaka", "--last-day", "2099-03-31"])
                .status
                .success()
        );

        let list = json(&run(&["user", "list", "--json"]));
        let users = list.as_array().unwrap();
        assert_eq!(users.len(), 2);
        assert!(
            !String::from_utf8_lossy(&run(&["user", "list", "--json"]).stdout).contains("argon2"),
            "no password hash leaves the store"
        );

        assert!(
            run(&["access-review", "--csv", "review.csv"])
                .status
                .success()
        );
        let csv = std::fs::read_to_string(d.join("review.csv")).unwrap();
        assert!(csv.starts_with('\u{feff}'));
        assert!(
            csv.contains("tanaka")
                && csv.contains("予防接種事務担当")
                && csv.contains("2099-03-31")
        );
        assert!(csv.contains("kanri") && csv.contains("利用者の管理"));
        assert!(
            !csv.contains("role:") && !csv.contains("user.admin"),
            "{csv}"
        );
        let audit = String::from_utf8(run(&["audit", "export", "--function", "user.admin"]).stdout)
            .unwrap();
        assert!(
            audit.contains("tanaka") && audit.contains("grant"),
            "{}: {audit}",
            db.name
        );
    }
}

/// The host's operator approves a grant of My Number use an administrator asked for on the
/// pages (four-eyes); until then the access review lists it as waiting.
#[tokio::test]
async fn the_operator_approves_a_grant_waiting_for_a_second_administrator() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        common::init_machida(d, &db.url);
        let add = run(&[
            "user",
            "add",
            "tanaka",
            "--name",
            "田中 花子",
            "--grant",
            "role:clerk",
        ]);
        assert!(add.status.success(), "{}", text(&add));
        let nothing = run(&["user", "approve", "tanaka", "mynumber.use"]);
        assert!(!nothing.status.success(), "{}", db.name);
        assert!(text(&nothing).contains("承認待ち"), "{}", text(&nothing));

        let store = sesshu_store::Store::connect(&db.url).await.unwrap();
        let t = sesshu_domain::MunicipalityCode::parse("132098").unwrap();
        let today = sesshu_web::today_in_japan();
        store
            .propose_grant(t, "tanaka", "mynumber.use", today, None, "user:kanri")
            .await
            .unwrap();
        let review = String::from_utf8_lossy(&run(&["access-review"]).stdout).into_owned();
        assert!(review.contains("承認待ち"), "{}: {review}", db.name);
        let approved = run(&["user", "approve", "tanaka", "mynumber.use"]);
        assert!(
            approved.status.success(),
            "{}: {}",
            db.name,
            text(&approved)
        );
        assert!(
            text(&approved).contains("承認しました"),
            "{}",
            text(&approved)
        );
        let held = store.permissions(t, "tanaka", today).await.unwrap();
        assert!(
            held.contains(&sesshu_domain::access::Permission::MyNumberUse),
            "{}",
            db.name
        );
        store.close().await;
    }
}

/// Revoking a token names it first and happens only when confirmed: without a terminal to
/// ask on, only `--yes` revokes; an unknown ID is said to be unknown.
#[tokio::test]
async fn a_token_is_revoked_only_when_confirmed_and_is_named_first() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        common::init_machida(d, &db.url);
        let created = run(&[
            "token",
            "create",
            "vaccine-registry",
            "--grant",
            "role:viewer",
        ]);
        assert!(created.status.success(), "{}", text(&created));
        let open = run(&["token", "create", "mn-batch", "--grant", "mynumber.use"]);
        assert!(!open.status.success(), "{}", db.name);
        assert!(text(&open).contains("--allow-from"), "{}", text(&open));
        let limited = run(&[
            "token",
            "create",
            "mn-batch",
            "--grant",
            "mynumber.use",
            "--allow-from",
            "10.0.0.5",
            "--days",
            "30",
        ]);
        assert!(limited.status.success(), "{}", text(&limited));
        let shown = String::from_utf8_lossy(&run(&["token", "list"]).stdout).into_owned();
        assert!(shown.contains("接続元 10.0.0.5/32"), "{shown}");
        let listed = json(&run(&["token", "list", "--json"]));
        let id = listed[0]["token_id"].as_str().unwrap().to_owned();

        let asked = run(&["token", "revoke", &id]);
        assert!(!asked.status.success(), "{}: {}", db.name, text(&asked));
        let said = text(&asked);
        assert!(
            said.contains("vaccine-registry") && said.contains("--yes"),
            "{said}"
        );
        let listed = json(&run(&["token", "list", "--json"]));
        assert!(
            listed[0]["revoked_at"].is_null(),
            "{}: not revoked",
            db.name
        );

        let unknown = run(&["token", "revoke", "0000000000000000", "--yes"]);
        assert!(!unknown.status.success());
        assert!(text(&unknown).contains("ありません"), "{}", text(&unknown));

        let revoked = run(&["token", "revoke", &id, "--yes"]);
        assert!(revoked.status.success(), "{}", text(&revoked));
        assert!(text(&revoked).contains("vaccine-registry"));
        let listed = run(&["token", "list"]);
        assert!(text(&listed).contains("(取消済み)"), "{}", text(&listed));
        assert!(
            text(&listed).contains("閲覧"),
            "grants by name: {}",
            text(&listed)
        );
    }
}
