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

use sesshu_formats::TextEncoding;
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
    browser_with_downloads(None).await
}

/// A browser that saves downloads into `downloads` without asking.
async fn browser_with_downloads(downloads: Option<&std::path::Path>) -> (Client, Driver) {
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
                "--disable-dev-shm-usage", "--window-size=1366,768", "--lang=ja",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }
    }))
    .unwrap();
    let mut caps = caps;
    if let Some(dir) = downloads
        && let Some(options) = caps.get_mut("goog:chromeOptions")
    {
        options["prefs"] = serde_json::json!({
            "download.default_directory": dir.display().to_string(),
            "download.prompt_for_download": false,
            "plugins.always_open_pdf_externally": true,
        });
    }
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
    people: Vec<sesshu_domain::Person>,
    shots: Option<std::path::PathBuf>,
    _documents: tempfile::TempDir,
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
    common::account(&store, tenant, "suzuki", "role:clerk", Some("saitama88")).await;
    let documents = tempfile::tempdir().unwrap();
    let mut state = AppState::from_app(
        sesshu_app::App::with_keyring(
            store.clone(),
            keyring,
            Arc::new(sesshu_schedule::Engine::new(
                sesshu_schedule::RuleBook::builtin().unwrap(),
            )),
        )
        .with_documents(sesshu_app::DocumentsConfig {
            approval: true,
            ..Default::default()
        })
        .with_certificate_keys(sesshu_crypto::KeyringSource::fixed(Keyring::generate()))
        .with_output_dir(documents.path()),
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
        people,
        shots: std::env::var_os("SESSHU_SCREENSHOTS").map(std::path::PathBuf::from),
        _documents: documents,
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

/// The thin client's screen (1366×768): the element can be seen and reached without scrolling.
async fn above_the_fold(c: &Client, css: &str, name: &str) {
    await_element(c, css).await;
    let v = c
        .execute(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect();\
             return [r.top, r.bottom, window.innerHeight, window.scrollY];",
            vec![serde_json::json!(css)],
        )
        .await
        .unwrap();
    let n: Vec<f64> = serde_json::from_value(v).unwrap();
    assert!(
        n[3] == 0.0 && n[0] >= 0.0 && n[1] <= n[2],
        "{name}: {css} is not on the first screen (top {}, bottom {}, height {}, scrolled {})",
        n[0],
        n[1],
        n[2],
        n[3]
    );
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
        above_the_fold(&c, "#save-dose", name).await;
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
        for css in ["#dose-warning", "#confirm", "#save-dose"] {
            above_the_fold(&c, css, name).await;
        }
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

        // A file that renames ten persons: the list of them, and the tick beside the button, on
        // the first screen; without the tick nothing is applied and the page says why there.
        let n = usize::try_from(sesshu_app::imports::IDENTITY_CONFIRM_FROM).unwrap();
        let mut renamed = site.people[30..30 + n].to_vec();
        for p in &mut renamed {
            p.name = sesshu_domain::PersonName::parse(&format!("{}　変子", p.name.family)).unwrap();
        }
        let files = tempfile::tempdir().unwrap();
        let file = files.path().join("rename.csv");
        std::fs::write(&file, sesshu_testkit::feed(&renamed, TextEncoding::Utf8)).unwrap();
        c.find(Locator::Id("file"))
            .await
            .unwrap()
            .send_keys(&file.display().to_string())
            .await
            .unwrap();
        click(&c, Locator::Id("preview-button")).await;
        await_element(&c, "#identity-changes").await;
        for css in ["#identity-confirm", "#confirm_identity", "#apply"] {
            above_the_fold(&c, css, name).await;
        }
        site.shot(&c, name, "11-import-identity").await;
        click(&c, Locator::Id("apply")).await;
        let said = text_of(&c, "#confirm_identity-error").await;
        assert!(said.contains("確認の印"), "{name}: {said}");
        above_the_fold(&c, "#confirm_identity-error", name).await;
        let unchanged = site
            .store
            .person(site.tenant, &site.people[30].address_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unchanged.person.name, site.people[30].name, "{name}");
        click(&c, Locator::Id("confirm_identity")).await;
        click(&c, Locator::Id("apply")).await;
        await_text_for(&c, "#job-status", "完了", 60).await;
        let renamed_now = site
            .store
            .person(site.tenant, &site.people[30].address_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(renamed_now.person.name, renamed[0].name, "{name}");

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
        click(&c, Locator::Css("#grant-login option[value='kansa']")).await;
        click(&c, Locator::Css("#grant option[value='role:auditor']")).await;
        click(&c, Locator::Css("button[value='grant']")).await;
        await_text(&c, "#notice", "監査担当").await;
        // Separation of duties: the administrator may not also audit.
        click(&c, Locator::Css("#grant-login option[value='kanri']")).await;
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
        // The function is picked from a list of Japanese names.
        click(&c, Locator::Css("#function option[value='user.admin']")).await;
        click(&c, Locator::Id("audit-search")).await;
        let entries = text_of(&c, "#entries").await;
        assert!(
            entries.contains("user:kanri")
                && entries.contains("利用者の管理")
                && entries.contains("拒否"),
            "{name}: the grant and its refusal are in the log: {entries}"
        );
        site.shot(&c, name, "14-audit").await;
        c.close().await.unwrap();
    }
}

/// Waits for a download to finish and returns its bytes.
async fn downloaded(dir: &std::path::Path, suffix: &str) -> (String, Vec<u8>) {
    for _ in 0..200 {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                // Chromium writes into a .crdownload file and renames it when complete.
                if name.ends_with(suffix) && !bytes.is_empty() {
                    std::fs::remove_file(e.path()).unwrap();
                    return (name, bytes);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {suffix} was downloaded into {}", dir.display());
}

fn pdf_text(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("d.pdf");
    std::fs::write(&pdf, bytes).unwrap();
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (Debian's poppler-utils) must be installed: scripts/test installs it");
    // Laid out text spaces a name's parts apart: compare without white space.
    String::from_utf8_lossy(&out.stdout)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

async fn select(c: &Client, id: &str, value: &str) {
    click(c, Locator::Css(&format!("#{id} option[value='{value}']"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_plans_approves_prints_and_issues_a_certificate_in_the_browser() {
    for db in sesshu_testkit::backends().await {
        let site = site(&db.url).await;
        let name = db.name;
        let downloads = tempfile::tempdir().unwrap();
        let (c, _driver) = browser_with_downloads(Some(downloads.path())).await;
        let today = sesshu_web::today_in_japan();
        let child: String = site
            .child
            .name
            .to_string()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let address = site.child.address_number.as_str().to_owned();

        // Tanaka plans a Hib recall: the dry run names the baby; nothing is kept before 計画.
        let code =
            sesshu_crypto::totp::code_at(&site.secret, chrono::Utc::now().timestamp() as u64)
                .unwrap();
        login(&c, &site, "tanaka", "kanagawa77", &code).await;
        await_element(&c, "#search-button").await;
        c.goto(&format!("{}/notices", site.base)).await.unwrap();
        click(&c, Locator::Id("new-run")).await;
        await_element(&c, "#plan-form").await;
        select(&c, "series", "hib").await;
        fill(&c, "dose", "1").await;
        fill(&c, "from", &today.to_string()).await;
        fill(&c, "to", &(today + chrono::Days::new(30)).to_string()).await;
        click(&c, Locator::Css("input[name='basis'][value='open']")).await;
        click(&c, Locator::Id("doc-ticket")).await;
        click(&c, Locator::Id("preview")).await;
        let sample = await_text(&c, "#sample", &site.child.name.to_string()).await;
        assert!(sample.contains(&address), "{name}: {sample}");
        assert!(
            site.store
                .notice_runs(site.tenant)
                .await
                .unwrap()
                .is_empty()
        );
        site.shot(&c, name, "20-dry-run").await;
        click(&c, Locator::Id("plan")).await;
        let status = await_text(&c, "#status", "承認待ち").await;
        assert!(status.contains("承認待ち"), "{name}");
        let run = site.store.notice_runs(site.tenant).await.unwrap()[0]
            .run_id
            .clone();
        assert_eq!(
            path(&c).await,
            format!("/notices/{run}?planned=1"),
            "{name}"
        );
        let said = text_of(&c, "#notice").await;
        assert!(
            said.contains("計画しました"),
            "{name}: every change says so: {said}"
        );
        // The planner's own approval is refused, on the page.
        click(&c, Locator::Id("approve")).await;
        let refused = await_text(&c, "#error", "承認できません").await;
        assert!(refused.contains("別の職員"), "{name}: {refused}");
        site.shot(&c, name, "21-awaiting").await;
        click(&c, Locator::Id("logout")).await;
        await_element(&c, "#login").await;

        // Suzuki approves and prints; the job's page shows its progress until it is done.
        login(&c, &site, "suzuki", "saitama88", "").await;
        await_element(&c, "#search-button").await;
        c.goto(&format!("{}/notices/{run}", site.base))
            .await
            .unwrap();
        click(&c, Locator::Id("approve")).await;
        await_text(&c, "#notice", "承認しました").await;
        click(&c, Locator::Id("print-run")).await;
        await_element(&c, "#job-progress").await;
        assert!(path(&c).await.starts_with("/jobs/"), "{name}");
        let done = await_text_for(&c, "#job-status", "完了", 60).await;
        assert!(done.contains("完了"), "{name}");
        let count = text_of(&c, "#job-count").await;
        assert!(count.contains("100%"), "{name}: {count}");
        site.shot(&c, name, "22-job").await;
        click(&c, Locator::Id("job-subject")).await;
        await_text(&c, "#status", "発行済").await;
        let files = text_of(&c, "#files").await;
        assert!(files.contains("vendor.csv"), "{name}: {files}");
        site.shot(&c, name, "23-issued").await;

        // The ticket file, downloaded as a clerk would, names the baby.
        click(
            &c,
            Locator::Css(&format!("#files a[href$='{run}-ticket-001.pdf']")),
        )
        .await;
        let (file, pdf) = downloaded(downloads.path(), "-ticket-001.pdf").await;
        assert!(pdf.starts_with(b"%PDF"), "{name}: {file}");
        let text = pdf_text(&pdf);
        assert!(
            text.contains(&child),
            "{name}: the ticket names the person: {text}"
        );

        // At the counter: a certificate from the person's page, its PDF, and its check.
        let dose = sesshu_domain::Dose::given("bcg", 1, today - chrono::Days::new(1));
        site.store
            .record_dose(
                site.tenant,
                &address,
                dose,
                None,
                Default::default(),
                "clinic",
            )
            .await
            .unwrap();
        c.goto(&format!("{}/persons/{address}", site.base))
            .await
            .unwrap();
        click(&c, Locator::Id("issue-certificate")).await;
        await_text(&c, "#notice", "発行しました").await;
        let id = text_of(&c, "#certificate-id").await;
        site.shot(&c, name, "24-certificate").await;
        click(&c, Locator::Id("certificate-pdf")).await;
        let (_, pdf) = downloaded(downloads.path(), &format!("{id}.pdf")).await;
        let text = pdf_text(&pdf);
        assert!(
            text.contains(&child),
            "{name}: the certificate names the person"
        );
        c.goto(&format!("{}/certificates/verify", site.base))
            .await
            .unwrap();
        fill(&c, "id", &id).await;
        click(&c, Locator::Css("main button.primary")).await;
        let verdict = await_text(&c, "main", "真正な証明書").await;
        assert!(
            verdict.contains(&site.child.name.to_string()),
            "{name}: {verdict}"
        );
        site.shot(&c, name, "25-verified").await;
        // Revoked with a reason, it no longer verifies.
        c.goto(&format!("{}/certificates/{id}", site.base))
            .await
            .unwrap();
        fill(&c, "reason", "誤って発行したため").await;
        click(&c, Locator::Id("revoke-certificate")).await;
        await_text(&c, "#cert-state", "無効").await;
        c.goto(&format!("{}/certificates/verify", site.base))
            .await
            .unwrap();
        fill(&c, "id", &id).await;
        click(&c, Locator::Css("main button.primary")).await;
        await_text(&c, "main", "誤って発行したため").await;
        c.close().await.unwrap();
    }
}

/// Like [`await_text`], for up to `seconds`: a job's page reloads itself until it is done.
async fn await_text_for(c: &Client, css: &str, needle: &str, seconds: u64) -> String {
    let mut last = String::new();
    for _ in 0..seconds * 10 {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_prepares_a_payment_and_extracts_doses_in_the_browser() {
    for db in sesshu_testkit::backends().await {
        let site = site(&db.url).await;
        let name = db.name;
        let t = site.tenant;
        common::account(
            &site.store,
            t,
            "shiharai",
            "role:payments",
            Some("kanagawa77"),
        )
        .await;
        common::account(
            &site.store,
            t,
            "chushutsu",
            "role:exporter",
            Some("kanagawa77"),
        )
        .await;
        // A deferral billed for November, its 予診のみ price, the clinic's and the city's accounts.
        let ops = sesshu_app::App::with_keyring(
            site.store.clone(),
            Keyring::generate(),
            Arc::new(sesshu_schedule::Engine::new(
                sesshu_schedule::RuleBook::builtin().unwrap(),
            )),
        );
        let me = sesshu_app::Actor::operator(Some(t));
        let mut dose = sesshu_domain::dose::Dose::given("bcg", 1, sesshu_web::today_in_japan());
        dose.judgement = sesshu_domain::dose::DoseJudgement::Deferred;
        dose.institution_code = Some("1310000001".into());
        dose.billing_month = Some(sesshu_domain::dose::BillingMonth::parse("202611").unwrap());
        let change = sesshu_app::doses::DoseChange {
            dose,
            confirmed: true,
        };
        ops.add_dose(&me, t, site.child.address_number.as_str(), change)
            .await
            .unwrap();
        let csv = |s: &str| std::io::Cursor::new(s.as_bytes().to_vec());
        ops.import_prices(
            &me,
            t,
            csv("ワクチン,回数,適用開始日,適用終了日,単価\nbcg,予診のみ,2015-04-01,,2750\n"),
        )
        .await
        .unwrap();
        ops.import_payment_institutions(&me, t, csv("医療機関コード,医療機関名,受取人名カナ,金融機関コード,金融機関名カナ,支店コード,支店名カナ,預金種目,口座番号\n1310000001,山田小児科,ヤマダショウニカ,0001,ミズホ,123,ホンテン,普通,1234567\n"))
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
        ops.set_payment_requester(&me, t, "9876543210", "マチダシ", &account)
            .await
            .unwrap();

        let downloads = tempfile::tempdir().unwrap();
        let (c, _driver) = browser_with_downloads(Some(downloads.path())).await;
        login(&c, &site, "shiharai", "kanagawa77", "").await;
        await_element(&c, "#prepare").await;
        assert_eq!(
            path(&c).await,
            "/payments",
            "{name}: the payments clerk lands on 委託料"
        );
        site.shot(&c, name, "40-payments").await;
        let mut transfer = sesshu_web::today_in_japan() + chrono::Days::new(14);
        while chrono::Datelike::weekday(&transfer).number_from_monday() > 5 {
            transfer = transfer + chrono::Days::new(1);
        }
        fill(&c, "billing_month", "202611").await;
        // A date input takes the typed date in the browser's locale; set its value as ISO.
        c.execute(
            "document.getElementById('transfer_date').value = arguments[0];",
            vec![serde_json::json!(transfer.to_string())],
        )
        .await
        .unwrap();
        click(&c, Locator::Id("prepare-run")).await;
        let total = await_text(&c, "#total", "2,750").await;
        assert!(total.contains("2,750 円"), "{name}: {total}");
        assert!(
            text_of(&c, "#statements").await.contains("予診のみ"),
            "{name}"
        );
        assert!(text_of(&c, "#status").await.contains("承認待ち"), "{name}");
        site.shot(&c, name, "41-payment-run").await;

        // The exporter ticks a product and the columns, and gets the CSV.
        c.delete_all_cookies().await.unwrap();
        login(&c, &site, "chushutsu", "kanagawa77", "").await;
        await_element(&c, "#extract").await;
        assert_eq!(path(&c).await, "/extract", "{name}");
        click(&c, Locator::Css("input[name='product'][value='bcg']")).await;
        click(&c, Locator::Id("deferred-check")).await;
        click(&c, Locator::Css("input[name='column'][value='lot']")).await;
        site.shot(&c, name, "42-extract").await;
        click(&c, Locator::Id("run-extract")).await;
        let (_, bytes) = downloaded(downloads.path(), "extract.csv").await;
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with('\u{feff}'), "{name}");
        assert!(
            text.contains(site.child.address_number.as_str()),
            "{name}: {text}"
        );
        assert!(text.contains("ロット番号"), "{name}: {text}");
        assert!(!sesshu_testkit::leaks_my_number(&text), "{name}");

        // The exporter reads the 集計 page: the annual table and the coverage chart.
        c.goto(&format!("{}/statistics", site.base)).await.unwrap();
        await_element(&c, "#coverage-chart svg").await;
        c.execute(
            "document.getElementById('coverage-chart').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
        site.shot(&c, name, "43-statistics").await;
    }
}
