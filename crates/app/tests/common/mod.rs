//! What the application's tests share: an actor as a login would make it, and a town imported
//! through the real importer.

#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;

use sesshu_app::Actor;
use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::access::expand;
use sesshu_domain::{MunicipalityCode, Person};
use sesshu_formats::{ReadOptions, TextEncoding};
use sesshu_store::{ImportMode, ImportOptions, Store};

/// A staff member of `tenant` holding `grant` (a role or a permission).
pub fn actor(tenant: &str, login: &str, grant: &str) -> Actor {
    Actor {
        tenant: Some(MunicipalityCode::parse(tenant).unwrap()),
        prefecture: None,
        actor: format!("user:{login}"),
        kind: "user",
        permissions: expand(grant).unwrap().into_iter().collect(),
        source: "test".into(),
        institution: None,
    }
}

/// These persons as a full resident file, imported all or nothing.
pub async fn import(store: &Store, keyring: &Keyring, tenant: MunicipalityCode, people: &[Person]) {
    let summary = store
        .import_residents(
            tenant,
            Arc::new(TenantCrypto::derive(keyring, tenant).unwrap()),
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
    // A test that edits its persons must see its edits refused, not a register left empty.
    assert_eq!(
        summary.status,
        sesshu_store::ImportStatus::Applied,
        "{:?}",
        summary.message
    );
}

/// The entries of one function in a municipality's audit chain.
pub async fn entries(
    store: &Store,
    t: MunicipalityCode,
    function: &str,
) -> Vec<sesshu_store::AuditEntry> {
    store
        .audit_entries(
            Some(t),
            &sesshu_store::AuditQuery {
                function: Some(function.into()),
                limit: 1000,
                ..sesshu_store::AuditQuery::default()
            },
        )
        .await
        .unwrap()
}

/// A register with 町田市 (returned) and 札幌市, the other municipality every tenant test asks.
pub async fn machida_and_sapporo(url: &str) -> (Store, MunicipalityCode) {
    let store = Store::connect(url).await.unwrap();
    let tenant = MunicipalityCode::parse("132098").unwrap();
    store.create_municipality(tenant, "町田市").await.unwrap();
    store
        .create_municipality(MunicipalityCode::parse("011002").unwrap(), "札幌市")
        .await
        .unwrap();
    (store, tenant)
}

/// The application over `store` with the built-in rules.
pub fn app(store: &Store, keyring: Keyring) -> sesshu_app::App {
    sesshu_app::App::with_keyring(
        store.clone(),
        keyring,
        Arc::new(sesshu_schedule::Engine::new(
            sesshu_schedule::RuleBook::builtin().unwrap(),
        )),
    )
}

/// Prices and institutions from these CSVs, and the city's own account, as a payer records them.
pub async fn payments_set_up(
    app: &sesshu_app::App,
    tenant: MunicipalityCode,
    prices: &str,
    institutions: &str,
) -> (usize, usize) {
    let payer = actor(&tenant.as_string(), "payer1", "role:payments");
    let csv = |s: &str| std::io::Cursor::new(s.as_bytes().to_vec());
    let p = app
        .import_prices(&payer, tenant, csv(prices))
        .await
        .unwrap();
    let i = app
        .import_payment_institutions(&payer, tenant, csv(institutions))
        .await
        .unwrap();
    let account = sesshu_formats::zengin::Account::new(
        "0009",
        "ミツイスミトモ",
        "001",
        "マチダ",
        "1",
        "1112223",
    )
    .unwrap();
    app.set_payment_requester(&payer, tenant, "9876543210", "マチダシ", &account)
        .await
        .unwrap();
    (p, i)
}

/// A weekday three weeks ahead (banks transfer on business days).
pub fn transfer_day() -> sesshu_domain::CivilDate {
    use chrono::Datelike;
    let mut d = sesshu_app::today_in_japan() + chrono::Days::new(20);
    while d.weekday().number_from_monday() > 5 {
        d = d + chrono::Days::new(1);
    }
    d
}

/// Hib's first dose over the next 30 days, open to everyone who can be vaccinated in it.
pub fn hib_first_dose() -> sesshu_store::RecallQuery {
    let today = sesshu_app::today_in_japan();
    sesshu_app::notices::RecallForm {
        series: "hib".into(),
        dose: Some(1),
        from: today.to_string(),
        to: (today + chrono::Days::new(30)).to_string(),
        basis: "open".into(),
        recall_of: None,
        as_of: None,
    }
    .query()
    .unwrap()
}
