//! What the web tests share: a register imported through the real importer, and accounts.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::MunicipalityCode;
use sesshu_formats::{ReadOptions, TextEncoding};
use sesshu_store::{ImportMode, ImportOptions, NewAccount, Store};

pub async fn import(
    store: &Store,
    keyring: &Keyring,
    t: MunicipalityCode,
    people: &[sesshu_domain::Person],
) {
    store
        .import_residents(
            t,
            Arc::new(TenantCrypto::derive(keyring, t).unwrap()),
            std::io::Cursor::new(sesshu_testkit::feed(people, TextEncoding::Utf8)),
            ImportOptions {
                mode: ImportMode::Full,
                all_or_nothing: true,
                max_identity_changes: None,
                dry_run: false,
                file_name: "f.csv".into(),
                operator: "t".into(),
                read: ReadOptions::default(),
            },
            |_| {},
            |_| {},
        )
        .await
        .unwrap();
}

/// An account valid since 2020 with one role; `password` set (no change forced) when given,
/// else left at its first password, which must be changed.
pub async fn account(
    store: &Store,
    t: MunicipalityCode,
    login: &str,
    role: &str,
    password: Option<&str>,
) {
    let policy = sesshu_domain::access::PasswordPolicy::default();
    store
        .create_account(
            t,
            &NewAccount {
                login: login.into(),
                display_name: login.into(),
                shared: false,
                shared_with: None,
                valid_from: sesshu_testkit::day("2020-01-01"),
                valid_until: None,
            },
            "first1234",
            &policy,
            "admin",
        )
        .await
        .unwrap();
    if let Some(p) = password {
        store
            .set_password(t, login, p, &policy, false)
            .await
            .unwrap();
    }
    store
        .grant(
            t,
            login,
            role,
            sesshu_testkit::day("2020-01-01"),
            None,
            "admin",
        )
        .await
        .unwrap();
}
