//! Accounts on every backend: the password policy, lockout, grants with dates, separation of
//! duties, disabling from a day, and the municipality boundary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::{PasswordPolicy, Permission};
use sesshu_store::{LoginOutcome, NewAccount, Store, StoreError};
use sesshu_testkit::{backends, day};

const MACHIDA: &str = "132098";
const SAPPORO: &str = "011002";

fn code(s: &str) -> MunicipalityCode {
    MunicipalityCode::parse(s).unwrap()
}

fn account(login: &str) -> NewAccount {
    NewAccount {
        login: login.into(),
        display_name: "田中 花子".into(),
        shared: false,
        shared_with: None,
        valid_from: day("2026-04-01"),
        valid_until: None,
    }
}

async fn stores() -> Vec<(Store, &'static str, sesshu_testkit::TestDb)> {
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
        out.push((store, db.name, db));
    }
    out
}

#[tokio::test]
async fn accounts_follow_the_policy_and_grants_their_dates() {
    let policy = PasswordPolicy::default();
    let t = code(MACHIDA);
    for (store, backend, _db) in stores().await {
        let err = store
            .create_account(t, &account("tanaka"), "short1", &policy, "admin")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("8文字以上"), "{backend}: {err}");
        store
            .create_account(t, &account("tanaka"), "sakura2026", &policy, "admin")
            .await
            .unwrap();
        assert!(
            store
                .create_account(t, &account("tanaka"), "sakura2026", &policy, "admin")
                .await
                .is_err(),
            "{backend}: one login, one account"
        );
        let mut shared = account("madoguchi");
        shared.shared = true;
        assert!(
            store
                .create_account(t, &shared, "sakura2026", &policy, "admin")
                .await
                .is_err(),
            "{backend}: a shared account needs its users and terminals"
        );

        // A new account may do nothing; My Number use is never part of a clerk.
        let on = day("2026-05-01");
        assert!(store.permissions(t, "tanaka", on).await.unwrap().is_empty());
        store
            .grant(t, "tanaka", "role:clerk", day("2026-04-01"), None, "admin")
            .await
            .unwrap();
        store
            .grant(
                t,
                "tanaka",
                "export.run",
                day("2026-04-01"),
                Some(day("2026-04-30")),
                "admin",
            )
            .await
            .unwrap();
        let p = store.permissions(t, "tanaka", on).await.unwrap();
        assert!(p.contains(&Permission::DoseWrite), "{backend}");
        assert!(!p.contains(&Permission::MyNumberUse));
        assert!(
            !p.contains(&Permission::ExportRun),
            "{backend}: expired grant"
        );
        assert_eq!(
            store
                .revoke(t, "tanaka", "role:clerk", "admin")
                .await
                .unwrap(),
            1
        );
        assert!(store.permissions(t, "tanaka", on).await.unwrap().is_empty());
        let grants = store.grants(t, "tanaka").await.unwrap();
        let clerk = grants
            .iter()
            .find(|g| g.grant_name == "role:clerk")
            .unwrap();
        assert_eq!(
            clerk.revoked_by.as_deref(),
            Some("admin"),
            "revocations stay on record"
        );

        // Transfer: the account works through its last day and not after.
        store
            .grant(t, "tanaka", "role:viewer", day("2026-04-01"), None, "admin")
            .await
            .unwrap();
        store
            .disable_account(t, "tanaka", Some(day("2026-05-01")))
            .await
            .unwrap();
        assert!(
            !store
                .permissions(t, "tanaka", day("2026-05-01"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .permissions(t, "tanaka", day("2026-05-02"))
                .await
                .unwrap()
                .is_empty()
        );
        store.enable_account(t, "tanaka").await.unwrap();
        store.disable_account(t, "tanaka", None).await.unwrap();
        assert!(
            store.permissions(t, "tanaka", on).await.unwrap().is_empty(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn administering_and_auditing_are_refused_to_one_account() {
    let policy = PasswordPolicy::default();
    let t = code(MACHIDA);
    for (store, backend, _db) in stores().await {
        for login in ["kanri", "kansa"] {
            store
                .create_account(t, &account(login), "sakura2026", &policy, "root")
                .await
                .unwrap();
        }
        store
            .grant(
                t,
                "kanri",
                "role:administrator",
                day("2026-04-01"),
                None,
                "root",
            )
            .await
            .unwrap();
        let err = store
            .grant(t, "kanri", "audit.read", day("2026-04-01"), None, "root")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("職務分離"), "{backend}: {err}");
        store
            .grant(t, "kansa", "role:auditor", day("2026-04-01"), None, "root")
            .await
            .unwrap();
        assert!(
            store
                .grant(t, "kansa", "user.admin", day("2026-04-01"), None, "root")
                .await
                .is_err(),
            "{backend}: and the other way round"
        );
    }
}

/// A proposed grant counts for nothing, pending ones count for the separation of duties, and
/// the database itself refuses an approval by the one who proposed it.
#[tokio::test]
async fn a_proposed_grant_waits_for_someone_else_to_approve_it() {
    let policy = PasswordPolicy::default();
    let t = code(MACHIDA);
    let on = day("2026-05-01");
    for (store, backend, _db) in stores().await {
        store
            .create_account(t, &account("sato"), "sakura2026", &policy, "root")
            .await
            .unwrap();
        store
            .propose_grant(
                t,
                "sato",
                "role:administrator",
                day("2026-04-01"),
                None,
                "user:kanri",
            )
            .await
            .unwrap();
        assert!(
            store.permissions(t, "sato", on).await.unwrap().is_empty(),
            "{backend}"
        );
        assert!(
            store
                .grant(t, "sato", "audit.read", day("2026-04-01"), None, "root")
                .await
                .is_err(),
            "{backend}: a pending administrator's role already keeps the auditor's away"
        );
        let own = store
            .approve_grant(t, "sato", "role:administrator", "user:kanri")
            .await
            .unwrap();
        assert_eq!(own, 0, "{backend}");
        assert!(
            store.permissions(t, "sato", on).await.unwrap().is_empty(),
            "{backend}"
        );
        let other = store
            .approve_grant(t, "sato", "role:administrator", "user:suzuki")
            .await
            .unwrap();
        assert_eq!(other, 1, "{backend}");
        assert!(
            store
                .permissions(t, "sato", on)
                .await
                .unwrap()
                .contains(&Permission::UserAdmin),
            "{backend}"
        );
        let g = store.grants(t, "sato").await.unwrap();
        assert_eq!(
            g[0].approved_by.as_deref(),
            Some("user:suzuki"),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn logins_lock_after_repeated_failures_and_say_nothing_of_unknown_accounts() {
    let policy = PasswordPolicy::default();
    let t = code(MACHIDA);
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 1, 0, 0).unwrap();
    for (store, backend, _db) in stores().await {
        store
            .create_account(t, &account("tanaka"), "sakura2026", &policy, "admin")
            .await
            .unwrap();
        assert_eq!(
            store
                .attempt_login(t, "tanaka", "sakura2026", &policy, now)
                .await
                .unwrap(),
            LoginOutcome::Ok {
                must_change_password: true
            },
            "{backend}: a first password must be changed"
        );
        assert_eq!(
            store
                .attempt_login(t, "nobody", "sakura2026", &policy, now)
                .await
                .unwrap(),
            LoginOutcome::Invalid,
            "an unknown login looks like a wrong password"
        );
        for _ in 0..4 {
            assert_eq!(
                store
                    .attempt_login(t, "tanaka", "wrong2026", &policy, now)
                    .await
                    .unwrap(),
                LoginOutcome::Invalid
            );
        }
        assert!(matches!(
            store
                .attempt_login(t, "tanaka", "wrong2026", &policy, now)
                .await
                .unwrap(),
            LoginOutcome::Locked { .. }
        ));
        assert!(
            matches!(
                store
                    .attempt_login(t, "tanaka", "sakura2026", &policy, now)
                    .await
                    .unwrap(),
                LoginOutcome::Locked { .. }
            ),
            "{backend}: locked even with the right password"
        );
        let later = now + Duration::minutes(16);
        assert!(
            matches!(
                store
                    .attempt_login(t, "tanaka", "sakura2026", &policy, later)
                    .await
                    .unwrap(),
                LoginOutcome::Ok { .. }
            ),
            "{backend}: the lock lifts by itself"
        );
        for _ in 0..5 {
            store
                .attempt_login(t, "tanaka", "wrong2026", &policy, later)
                .await
                .unwrap();
        }
        store.unlock_account(t, "tanaka").await.unwrap();
        assert!(
            matches!(
                store
                    .attempt_login(t, "tanaka", "sakura2026", &policy, later)
                    .await
                    .unwrap(),
                LoginOutcome::Ok { .. }
            ),
            "{backend}: an administrator unlocks"
        );

        // The person's own password: not a recent one, and it expires.
        assert!(
            store
                .set_password(t, "tanaka", "sakura2026", &policy, false)
                .await
                .is_err(),
            "{backend}: no reuse"
        );
        store
            .set_password(t, "tanaka", "momiji2027", &policy, false)
            .await
            .unwrap();
        let a = store.account(t, "tanaka").await.unwrap().unwrap();
        let changed = chrono::DateTime::parse_from_rfc3339(&a.password_changed_at)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            store
                .attempt_login(
                    t,
                    "tanaka",
                    "momiji2027",
                    &policy,
                    changed + Duration::days(91)
                )
                .await
                .unwrap(),
            LoginOutcome::PasswordExpired,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn another_municipality_cannot_see_or_change_accounts() {
    let policy = PasswordPolicy::default();
    for (store, backend, _db) in stores().await {
        store
            .create_account(
                code(MACHIDA),
                &account("tanaka"),
                "sakura2026",
                &policy,
                "admin",
            )
            .await
            .unwrap();
        store
            .grant(
                code(MACHIDA),
                "tanaka",
                "role:clerk",
                day("2026-04-01"),
                None,
                "admin",
            )
            .await
            .unwrap();
        let other = code(SAPPORO);
        assert!(
            store.account(other, "tanaka").await.unwrap().is_none(),
            "{backend}"
        );
        assert!(store.accounts(other).await.unwrap().is_empty());
        assert!(
            store
                .permissions(other, "tanaka", day("2026-05-01"))
                .await
                .unwrap()
                .is_empty()
        );
        let now = Utc::now();
        assert_eq!(
            store
                .attempt_login(other, "tanaka", "sakura2026", &policy, now)
                .await
                .unwrap(),
            LoginOutcome::Invalid
        );
        for result in [
            store
                .grant(other, "tanaka", "role:clerk", day("2026-04-01"), None, "x")
                .await,
            store.disable_account(other, "tanaka", None).await,
            store.unlock_account(other, "tanaka").await,
            store
                .set_password(other, "tanaka", "evil2026x", &policy, false)
                .await,
        ] {
            assert!(
                matches!(result, Err(StoreError::NotFound(_))),
                "{backend}: {result:?}"
            );
        }
        assert!(matches!(
            store.revoke(other, "tanaka", "role:clerk", "x").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            !store
                .permissions(code(MACHIDA), "tanaka", day("2026-05-01"))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// Validity is counted in days in Japan: at 01:00 in Japan (16:00 UTC the day before) an account
/// valid from that Japanese day may log in.
#[tokio::test]
async fn validity_dates_are_days_in_japan() {
    let policy = PasswordPolicy::default();
    let t = code(MACHIDA);
    for (store, backend, _db) in stores().await {
        let mut a = account("tanaka");
        a.valid_from = day("2026-05-02");
        store
            .create_account(t, &a, "sakura2026", &policy, "admin")
            .await
            .unwrap();
        let one_am_in_japan = Utc.with_ymd_and_hms(2026, 5, 1, 16, 0, 0).unwrap();
        assert_eq!(
            store
                .attempt_login(t, "tanaka", "sakura2026", &policy, one_am_in_japan)
                .await
                .unwrap(),
            LoginOutcome::Ok {
                must_change_password: true
            },
            "{backend}"
        );
        let before = Utc.with_ymd_and_hms(2026, 5, 1, 14, 0, 0).unwrap();
        assert_eq!(
            store
                .attempt_login(t, "tanaka", "sakura2026", &policy, before)
                .await
                .unwrap(),
            LoginOutcome::OutsideValidity,
            "{backend}: 23:00 in Japan the day before"
        );
    }
}

/// A flood of logins with names that do not exist (each a full Argon2id check, by design) is
/// admitted only up to the hashing pool's bound: the rest are refused at once as busy rather
/// than queued without end, nothing is counted against any account, and once the flood is over
/// a real login goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_is_refused_as_busy_beyond_the_bound_and_then_passes() {
    let policy = PasswordPolicy::default();
    let t = code(MACHIDA);
    for (store, backend, _db) in stores().await {
        store
            .create_account(t, &account("tanaka"), "sakura2026", &policy, "admin")
            .await
            .unwrap();
        let mut flood = Vec::new();
        for i in 0..150 {
            let store = store.clone();
            let policy = policy.clone();
            flood.push(tokio::spawn(async move {
                store
                    .attempt_login(t, &format!("nobody{i}"), "guess-2026", &policy, Utc::now())
                    .await
            }));
        }
        let (mut refused, mut busy) = (0, 0);
        for f in flood {
            match f.await.unwrap() {
                Ok(LoginOutcome::Invalid) => refused += 1,
                Err(StoreError::Busy) => busy += 1,
                other => panic!("{backend}: {other:?}"),
            }
        }
        assert!(
            busy > 0,
            "{backend}: beyond the bound, busy ({refused} checked)"
        );
        assert!(refused > 0, "{backend}: within it, checked");
        let ok = store
            .attempt_login(t, "tanaka", "sakura2026", &policy, Utc::now())
            .await
            .unwrap();
        assert!(
            matches!(ok, LoginOutcome::Ok { .. }),
            "{backend}: every place given back: {ok:?}"
        );
    }
}
