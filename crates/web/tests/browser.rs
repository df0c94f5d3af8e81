//! The staff pages in a real browser (Debian's headless Chromium through chromedriver), on both
//! backends: login with the second factor, search, a person, a valid dose and an
//! interval-violating one, the forecast changing, a page refused without its permission, and
//! the automatic logout. `SESSHU_SCREENSHOTS=DIR` keeps a PNG of every page visited.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use sesshu_crypto::Keyring;
use sesshu_domain::MunicipalityCode;

use sesshu_store::Store;
use sesshu_web::{AppState, router};

const IDLE_SECONDS: i64 = 20;

/// chromedriver with a fresh profile directory, stopped and removed on drop.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser() -> (Client, Driver) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver (Debian's chromium-driver) must be installed: scripts/test installs it",
        );
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=ja",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }
    }))
    .unwrap();
    let url = format!("http://127.0.0.1:{}", driver.port);
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        if let Ok(c) = ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return (c, driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

struct Site {
    base: String,
    store: Store,
    tenant: MunicipalityCode,
    secret: Vec<u8>,
    child: sesshu_domain::Person,
    shots: Option<std::path::PathBuf>,
}

async fn site(url: &str) -> Site {
    let store = Store::connect(url).await.unwrap();
    let keyring = Keyring::generate();
    let tenant = MunicipalityCode::parse("132098").unwrap();
    store.create_municipality(tenant, "町田市").await.unwrap();
    let mut people = sesshu_testkit::town(80, 4);
    // A baby of about three months, due for Hib, PCV and the rest.
    let today = sesshu_web::today_in_japan();
    people[5].birth_date = today - chrono::Days::new(95);
    let child = people[5].clone();
    common::import(&store, &keyring, tenant, &people).await;
    common::account(&store, tenant, "tanaka", "role:clerk", Some("kanagawa77")).await;
    let secret = sesshu_crypto::totp::new_secret();
    let sealed =
        sesshu_crypto::signing::seal_account_secret(&keyring, tenant, "tanaka", &secret).unwrap();
    store
        .enroll_totp(tenant, "tanaka", &sealed, &["abcde-fghjk".to_owned()])
        .await
        .unwrap();
    let mut state = AppState::new(
        store.clone(),
        Arc::new(keyring),
        Arc::new(sesshu_schedule::Engine::new(
            sesshu_schedule::RuleBook::builtin().unwrap(),
        )),
    );
    state.idle = chrono::Duration::seconds(IDLE_SECONDS);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Site {
        base: format!("http://{addr}"),
        store,
        tenant,
        secret,
        child,
        shots: std::env::var_os("SESSHU_SCREENSHOTS").map(std::path::PathBuf::from),
    }
}

impl Site {
    async fn shot(&self, c: &Client, db: &str, name: &str) {
        if let Some(dir) = &self.shots {
            std::fs::create_dir_all(dir).unwrap();
            let png = c.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{db}-{name}.png")), png).unwrap();
        }
    }
}

async fn click(c: &Client, target: Locator<'_>) {
    c.find(target).await.unwrap().click().await.unwrap();
}

async fn fill(c: &Client, id: &str, text: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// The text of an element, waiting for it: a click returns before the next page has loaded.
async fn text_of(c: &Client, css: &str) -> String {
    await_element(c, css).await.text().await.unwrap()
}

/// Waits until the element (on the page that replaces this one) says `needle`.
async fn await_text(c: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
        {
            if t.contains(needle) {
                return t;
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never said {needle:?}: {last}");
}

async fn await_element(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
}

async fn path(c: &Client) -> String {
    let u = c.current_url().await.unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_work_through_a_real_browser() {
    for db in sesshu_testkit::backends().await {
        let site = site(&db.url).await;
        let (c, _driver) = browser().await;
        let name = db.name;

        // A page without a session leads to the login; a wrong second factor is refused with
        // the same message as a wrong password.
        c.goto(&format!("{}/search", site.base)).await.unwrap();
        assert_eq!(path(&c).await, "/login", "{name}");
        site.shot(&c, name, "01-login").await;
        fill(&c, "municipality", "132098").await;
        fill(&c, "login", "tanaka").await;
        fill(&c, "password", "kanagawa77").await;
        fill(&c, "totp", "000000").await;
        click(&c, Locator::Css("button.primary")).await;
        let refused = text_of(&c, "#login-error").await;
        assert!(refused.contains("ログインできません"), "{name}: {refused}");

        // The right code opens the session; a clerk lands on the search.
        let unix = chrono::Utc::now().timestamp() as u64;
        let code = sesshu_crypto::totp::code_at(&site.secret, unix).unwrap();
        fill(&c, "municipality", "132098").await;
        fill(&c, "login", "tanaka").await;
        fill(&c, "password", "kanagawa77").await;
        fill(&c, "totp", &code).await;
        click(&c, Locator::Css("button.primary")).await;
        await_element(&c, "#search-button").await;
        assert_eq!(path(&c).await, "/search", "{name}: logged in");

        // Search by the family name in kana: the conditions travel in the body, not the URL.
        let kana = site.child.kana.to_string();
        let family: String = kana.split(['　', ' ']).next().unwrap().to_owned();
        fill(&c, "kana", &family).await;
        click(&c, Locator::Id("search-button")).await;
        await_element(&c, "#results").await;
        assert_eq!(
            path(&c).await,
            "/search",
            "{name}: no search terms in the URL"
        );
        let results = text_of(&c, "#results").await;
        assert!(
            results.contains(&site.child.name.to_string()),
            "{name}: {results}"
        );
        site.shot(&c, name, "02-search").await;

        // The person page: basic facts, the forecast with PCV due now.
        let address = site.child.address_number.as_str().to_owned();
        click(
            &c,
            Locator::Css(&format!("#results a[href='/persons/{address}']")),
        )
        .await;
        await_element(&c, "#forecast").await;
        assert_eq!(path(&c).await, format!("/persons/{address}"), "{name}");
        let pcv_before = text_of(&c, "#forecast tr[data-series='pcv']").await;
        assert!(pcv_before.contains("接種できます"), "{name}: {pcv_before}");
        site.shot(&c, name, "03-person").await;

        // A valid first PCV dose: product and ordinal suggested from the forecast.
        click(&c, Locator::Css("#forecast tr[data-series='pcv'] a.button")).await;
        await_element(&c, "#save-dose").await;
        let product = c
            .find(Locator::Id("product"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(
            product.as_deref(),
            Some("pcv20"),
            "{name}: suggested product"
        );
        let ordinal = c
            .find(Locator::Id("ordinal"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(ordinal.as_deref(), Some("1"), "{name}: suggested ordinal");
        fill(&c, "lot", "PC101").await;
        site.shot(&c, name, "04-dose-form").await;
        click(&c, Locator::Id("save-dose")).await;
        await_element(&c, "#notice").await;
        assert!(
            path(&c)
                .await
                .starts_with(&format!("/persons/{address}?recorded=")),
            "{name}: back on the person"
        );
        let doses = text_of(&c, "#doses").await;
        assert!(
            doses.contains("PC101") && doses.contains("定期"),
            "{name}: {doses}"
        );
        let pcv_after = text_of(&c, "#forecast tr[data-series='pcv']").await;
        assert!(
            pcv_after.contains("2回目") && pcv_after.contains("から"),
            "{name}: the forecast moved on: {pcv_after}"
        );

        // A second PCV dose today breaks the interval: warned, recorded only when confirmed,
        // and then shown as needing review. The lot is remembered for the session.
        click(&c, Locator::Css("#forecast tr[data-series='pcv'] a.button")).await;
        await_element(&c, "#save-dose").await;
        let lot = c
            .find(Locator::Id("lot"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(lot.as_deref(), Some("PC101"), "{name}: lot remembered");
        click(&c, Locator::Id("save-dose")).await;
        let warning = text_of(&c, "#dose-warning").await;
        assert!(warning.contains("間隔"), "{name}: {warning}");
        assert_eq!(
            site.store
                .doses_of(site.tenant, &address)
                .await
                .unwrap()
                .len(),
            1,
            "{name}: nothing recorded before the confirmation"
        );
        site.shot(&c, name, "05-dose-warning").await;
        click(&c, Locator::Id("confirm")).await;
        click(&c, Locator::Id("save-dose")).await;
        await_element(&c, "#notice").await;
        let doses = text_of(&c, "#doses").await;
        assert!(doses.contains("要確認"), "{name}: {doses}");
        site.shot(&c, name, "06-person-after").await;

        // Every person shown was recorded in the audit log, by this user.
        let entries = site
            .store
            .audit_entries(
                Some(site.tenant),
                &sesshu_store::AuditQuery {
                    person: Some(address.clone()),
                    actor: Some("user:tanaka".into()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let functions: Vec<&str> = entries.iter().map(|e| e.function.as_str()).collect();
        assert!(
            functions.contains(&"person.search"),
            "{name}: {functions:?}"
        );
        assert!(functions.contains(&"person.read"), "{name}: {functions:?}");
        assert!(functions.contains(&"dose.write"), "{name}: {functions:?}");

        // A dose's own page: its judgement, the correction form and the deletion with a reason.
        let first_dose = site.store.doses_of(site.tenant, &address).await.unwrap()[0].dose_id;
        c.goto(&format!("{}/doses/{first_dose}", site.base))
            .await
            .unwrap();
        await_text(&c, "main", "訂正の理由").await;
        site.shot(&c, name, "09-dose").await;
        // The clerk's imports page: the upload form and the history.
        c.goto(&format!("{}/imports", site.base)).await.unwrap();
        await_text(&c, "#runs", "f.csv").await;
        site.shot(&c, name, "10-imports").await;

        // A clerk has no user.admin: the page is refused, and says why.
        c.goto(&format!("{}/admin/users", site.base)).await.unwrap();
        let refused = text_of(&c, "main .panel").await;
        assert!(refused.contains("権限がありません"), "{name}: {refused}");
        assert!(
            c.find(Locator::Css("a[href='/admin/users']"))
                .await
                .is_err(),
            "{name}: the menu does not offer it"
        );

        // Left alone, the page warns, then hides everything and the session is over.
        c.goto(&format!("{}/persons/{address}", site.base))
            .await
            .unwrap();
        c.wait()
            .at_most(Duration::from_secs(IDLE_SECONDS as u64))
            .for_element(Locator::Css("#idle-warning:not([hidden])"))
            .await
            .unwrap();
        site.shot(&c, name, "07-idle-warning").await;
        c.wait()
            .at_most(Duration::from_secs(IDLE_SECONDS as u64 + 10))
            .for_url(&url_of(&site.base, "/login?m=idle"))
            .await
            .unwrap();
        let notice = text_of(&c, "main").await;
        assert!(notice.contains("自動的にログアウト"), "{name}: {notice}");
        assert!(
            !c.source()
                .await
                .unwrap()
                .contains(&site.child.name.to_string()),
            "{name}: no personal data left on the screen"
        );
        site.shot(&c, name, "08-idle-logout").await;
        c.goto(&format!("{}/persons/{address}", site.base))
            .await
            .unwrap();
        assert_eq!(path(&c).await, "/login", "{name}: the server ended it too");
        c.close().await.unwrap();
    }
}

fn url_of(base: &str, path: &str) -> url::Url {
    url::Url::parse(&format!("{base}{path}")).unwrap()
}

/// The secret of the enrolment page's manual-entry key, as an authenticator app reads it.
fn secret_of(shown: &str) -> Vec<u8> {
    let compact: String = shown.split_whitespace().collect();
    totp_rs::Secret::try_from_base32(compact)
        .unwrap()
        .as_bytes()
        .to_vec()
}

async fn login(c: &Client, site: &Site, login: &str, password: &str, totp: &str) {
    c.goto(&format!("{}/login", site.base)).await.unwrap();
    fill(c, "municipality", "132098").await;
    fill(c, "login", login).await;
    fill(c, "password", password).await;
    fill(c, "totp", totp).await;
    click(c, Locator::Css("button.primary")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_enrols_a_second_factor_and_an_auditor_verifies_the_log() {
    for db in sesshu_testkit::backends().await {
        let site = site(&db.url).await;
        let name = db.name;
        common::account(
            &site.store,
            site.tenant,
            "kanri",
            "role:administrator",
            Some("tokyo2026x"),
        )
        .await;
        let (c, _driver) = browser().await;

        // An administrator without a second factor is taken to its enrolment: a QR code and the
        // key; the first code from the app completes it and shows ten recovery codes once.
        login(&c, &site, "kanri", "tokyo2026x", "").await;
        await_element(&c, ".qr-code svg").await;
        assert_eq!(path(&c).await, "/enrol", "{name}");
        site.shot(&c, name, "11-enrol").await;
        let secret = secret_of(&text_of(&c, "#totp-secret").await);
        let code =
            sesshu_crypto::totp::code_at(&secret, chrono::Utc::now().timestamp() as u64).unwrap();
        fill(&c, "code", &code).await;
        click(&c, Locator::Css("button.primary")).await;
        let codes = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#recovery-codes"))
            .await
            .unwrap()
            .find_all(Locator::Css("li"))
            .await
            .unwrap();
        assert_eq!(codes.len(), 10, "{name}");
        assert!(
            site.store
                .totp_secret(site.tenant, "kanri")
                .await
                .unwrap()
                .is_some(),
            "{name}: enrolled"
        );
        site.shot(&c, name, "12-recovery").await;

        // The administrator's home is the user administration with the access review.
        click(&c, Locator::Css("a.button.primary")).await;
        let review = text_of(&c, "#review").await;
        assert!(
            review.contains("tanaka") && review.contains("kanri"),
            "{name}"
        );
        fill(&c, "add-login", "kansa").await;
        fill(&c, "add-name", "監査 一郎").await;
        click(&c, Locator::Css("form input[value='add'] ~ button.primary")).await;
        let notice = await_text(&c, "#notice", "初回パスワード").await;
        let first = notice
            .split("初回パスワード: ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("{name}: {notice}"))
            .to_owned();
        fill(&c, "grant-login", "kansa").await;
        click(&c, Locator::Css("#grant option[value='role:auditor']")).await;
        click(&c, Locator::Css("button[value='grant']")).await;
        await_text(&c, "#notice", "role:auditor").await;
        // Separation of duties: the administrator may not also audit.
        fill(&c, "grant-login", "kanri").await;
        click(&c, Locator::Css("#grant option[value='role:auditor']")).await;
        click(&c, Locator::Css("button[value='grant']")).await;
        let refused = text_of(&c, "#admin-error").await;
        assert!(refused.contains("職務"), "{name}: {refused}");
        site.shot(&c, name, "13-users").await;
        click(&c, Locator::Id("logout")).await;
        await_element(&c, "#login").await;

        // The auditor's first login leads to the password change, then to the log.
        login(&c, &site, "kansa", &first, "").await;
        await_element(&c, "#new_password").await;
        fill(&c, "municipality", "132098").await;
        fill(&c, "login", "kansa").await;
        fill(&c, "password", &first).await;
        fill(&c, "new_password", "audit2026x").await;
        fill(&c, "confirm", "audit2026x").await;
        click(&c, Locator::Css("button.primary")).await;
        await_text(&c, "main .notice", "パスワードを変更しました").await;
        login(&c, &site, "kansa", "audit2026x", "").await;
        await_element(&c, "#verify").await;
        click(&c, Locator::Id("verify")).await;
        await_text(&c, "#verification", "完全です").await;
        fill(&c, "function", "user.admin").await;
        click(&c, Locator::Id("audit-search")).await;
        let entries = text_of(&c, "#entries").await;
        assert!(
            entries.contains("user:kanri") && entries.contains("refused"),
            "{name}: the grant and its refusal are in the log"
        );
        site.shot(&c, name, "14-audit").await;
        c.close().await.unwrap();
    }
}
