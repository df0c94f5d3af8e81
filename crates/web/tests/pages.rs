//! The staff pages from the attacker's side, on both backends: no session, a missing permission,
//! a forged form (CSRF), another municipality, hostile text, and no My Number on any page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use sesshu_crypto::Keyring;
use sesshu_domain::MunicipalityCode;
use sesshu_formats::TextEncoding;
use sesshu_store::Store;
use sesshu_web::{AppState, router};
use tower::ServiceExt;

struct Site {
    app: axum::Router,
    /// The application layer behind the pages.
    ops: sesshu_app::App,
    store: Store,
    machida: MunicipalityCode,
    people: Vec<sesshu_domain::Person>,
}

async fn site(url: &str) -> Site {
    let store = Store::connect(url).await.unwrap();
    let keyring = Keyring::generate();
    let machida = MunicipalityCode::parse("132098").unwrap();
    let sapporo = MunicipalityCode::parse("011002").unwrap();
    store.create_municipality(machida, "町田市").await.unwrap();
    store.create_municipality(sapporo, "札幌市").await.unwrap();
    let mut people = sesshu_testkit::town(60, 3);
    people[2].name =
        sesshu_domain::PersonName::parse("<script>alert(1)</script>　';DROP/**/TABLE/**/person;--")
            .unwrap();
    common::import(&store, &keyring, machida, &people).await;
    common::import(&store, &keyring, sapporo, &sesshu_testkit::town(20, 8)).await;
    common::account(&store, machida, "clerk", "role:clerk", None).await;
    common::account(&store, machida, "viewer", "role:viewer", None).await;
    common::account(&store, sapporo, "other", "role:clerk", None).await;
    let state = AppState::new(
        store.clone(),
        Arc::new(keyring),
        Arc::new(sesshu_schedule::Engine::new(
            sesshu_schedule::RuleBook::builtin().unwrap(),
        )),
    );
    let ops = state.app.clone();
    let app = router(state);
    Site {
        app,
        ops,
        store,
        machida,
        people,
    }
}

/// Grants an existing account one more permission.
async fn grant(store: &Store, t: MunicipalityCode, login: &str, permission: &str) {
    store
        .grant(
            t,
            login,
            permission,
            sesshu_testkit::day("2020-01-01"),
            None,
            "admin",
        )
        .await
        .unwrap();
}

/// A session cookie and its CSRF token for an account.
async fn session(store: &Store, t: MunicipalityCode, login: &str) -> (String, String) {
    let s = store
        .start_session(t, login, None, chrono::Utc::now())
        .await
        .unwrap();
    (s.cookie, s.csrf_token)
}

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, format!("sesshu_session={c}"));
    }
    let body = match form {
        Some(f) => {
            r = r.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(f.to_owned())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(r.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = to_bytes(response.into_body(), 1 << 22).await.unwrap();
    (status, location, String::from_utf8(bytes.to_vec()).unwrap())
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn dose_form(csrf: &str) -> String {
    let today = sesshu_web::today_in_japan();
    format!("csrf={csrf}&given_on={today}&product=bcg&ordinal=1&lot=X1&confirm=1")
}

#[tokio::test]
async fn no_session_leads_to_the_login_and_shows_nothing() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let a = s.people[1].address_number.as_str().to_owned();
        for uri in [
            "/search",
            &format!("/persons/{a}"),
            "/imports",
            "/admin/users",
            "/audit",
        ] {
            let (status, location, body) = send(&s.app, "GET", uri, None, None).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{}: {uri}", db.name);
            assert_eq!(location.as_deref(), Some("/login"), "{}: {uri}", db.name);
            assert!(!body.contains(&s.people[1].name.to_string()));
        }
        // An unknown address answers 404 in Japanese, as a page or, under /api, as JSON.
        let (status, _, body) = send(&s.app, "GET", "/no/such/page", None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name);
        assert!(body.contains("見つかりません"), "{}", db.name);
        let (status, _, body) = send(&s.app, "GET", "/api/v1/nothing", None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name);
        assert!(body.starts_with('{'), "{}: {body}", db.name);
        // A made-up or tampered cookie is no session either.
        let (status, _, _) = send(&s.app, "GET", "/search", Some("132098.deadbeef"), None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", db.name);
    }
}

#[tokio::test]
async fn each_page_is_refused_without_its_permission() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let a = s.people[1].address_number.as_str().to_owned();
        let (cookie, csrf) = session(&s.store, s.machida, "viewer").await;
        // A viewer reads, but enters no dose, imports nothing, administers and audits nothing.
        for uri in [
            format!("/persons/{a}/doses"),
            "/imports".to_owned(),
            "/admin/users".to_owned(),
            "/audit".to_owned(),
        ] {
            let (status, _, body) = send(&s.app, "GET", &uri, Some(&cookie), None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}: {uri}", db.name);
            assert!(body.contains("権限がありません"), "{}: {uri}", db.name);
        }
        let (status, _, _) = send(
            &s.app,
            "POST",
            &format!("/persons/{a}/doses"),
            Some(&cookie),
            Some(&dose_form(&csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);
        assert!(s.store.doses_of(s.machida, &a).await.unwrap().is_empty());
        // The refusals are in the audit log.
        let refused = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    actor: Some("user:viewer".into()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.outcome == "refused")
            .count();
        assert!(refused >= 5, "{}: {refused}", db.name);
        // What the viewer may do, works.
        let (status, _, body) =
            send(&s.app, "GET", &format!("/persons/{a}"), Some(&cookie), None).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(body.contains(&s.people[1].name.to_string()));
        assert!(
            !body.contains("id=\"add-dose\""),
            "{}: no entry button",
            db.name
        );
    }
}

#[tokio::test]
async fn a_form_without_the_sessions_token_changes_nothing() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let a = s.people[1].address_number.as_str().to_owned();
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let (other_cookie, other_csrf) = session(&s.store, s.machida, "viewer").await;
        assert_ne!(csrf, other_csrf);
        for token in ["", "forged", other_csrf.as_str()] {
            let (status, _, body) = send(
                &s.app,
                "POST",
                &format!("/persons/{a}/doses"),
                Some(&cookie),
                Some(&dose_form(token)),
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}: {token:?}", db.name);
            assert!(body.contains("画面を開き直して"), "{}", db.name);
        }
        assert!(s.store.doses_of(s.machida, &a).await.unwrap().is_empty());
        // The page's keep-alive ("作業を続ける") needs it as well.
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/session/keepalive",
            Some(&cookie),
            Some("csrf=forged"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/session/keepalive",
            Some(&cookie),
            Some(&format!("csrf={csrf}")),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{}", db.name);
        // Logout needs the token too, so another site cannot end a session either.
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/logout",
            Some(&other_cookie),
            Some("csrf=x"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);
        // The entry form names the person: opening it is recorded as showing them.
        let (status, _, _) = send(
            &s.app,
            "GET",
            &format!("/persons/{a}/doses"),
            Some(&cookie),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        let shown = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    person: Some(a.clone()),
                    function: Some("person.read".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            shown.iter().any(|e| e.detail.contains("dose form")),
            "{}",
            db.name
        );
        // With it, the dose is recorded.
        let (status, location, _) = send(
            &s.app,
            "POST",
            &format!("/persons/{a}/doses"),
            Some(&cookie),
            Some(&dose_form(&csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", db.name);
        assert!(
            location
                .unwrap()
                .starts_with(&format!("/persons/{a}?recorded="))
        );
        assert_eq!(s.store.doses_of(s.machida, &a).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn another_municipality_is_not_there() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let a = s.people[1].address_number.as_str().to_owned();
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        send(
            &s.app,
            "POST",
            &format!("/persons/{a}/doses"),
            Some(&cookie),
            Some(&dose_form(&csrf)),
        )
        .await;
        let dose_id = s.store.doses_of(s.machida, &a).await.unwrap()[0].dose_id;
        let sapporo = MunicipalityCode::parse("011002").unwrap();
        let (cookie, csrf) = session(&s.store, sapporo, "other").await;
        // Sapporo's clerk reads, searches, writes and deletes nothing of Machida's.
        let (status, _, body) =
            send(&s.app, "GET", &format!("/persons/{a}"), Some(&cookie), None).await;
        // Sapporo's register may hold its own person under the same number; never Machida's.
        assert!(
            !body.contains(&s.people[1].name.to_string()),
            "{}: {status}",
            db.name
        );
        let (_, _, body) = send(
            &s.app,
            "POST",
            "/search",
            Some(&cookie),
            Some(&format!(
                "csrf={csrf}&kana={}",
                enc(&s.people[1].kana.to_string())
            )),
        )
        .await;
        assert!(!body.contains(&s.people[1].name.to_string()), "{}", db.name);
        let (status, _, _) = send(
            &s.app,
            "GET",
            &format!("/doses/{dose_id}"),
            Some(&cookie),
            None,
        )
        .await;
        // Dose ids are numbered per municipality: Sapporo has none.
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name);
        let (status, _, body) =
            send(&s.app, "GET", "/doses/1%20OR%201=1", Some(&cookie), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name);
        assert!(body.contains("見つかりません"), "{}", db.name);
        let (status, _, _) = send(
            &s.app,
            "POST",
            &format!("/doses/{dose_id}/delete"),
            Some(&cookie),
            Some(&format!("csrf={csrf}&reason=attack")),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name);
        let row = s.store.dose(s.machida, dose_id).await.unwrap().unwrap();
        assert!(!row.deleted, "{}: Machida's dose untouched", db.name);
    }
}

/// Every change says so on the page it leads to: a correction on the dose's page with its
/// version, a deletion on the person's page.
#[tokio::test]
async fn a_corrected_or_deleted_dose_says_so() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let a = s.people[1].address_number.as_str().to_owned();
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        send(
            &s.app,
            "POST",
            &format!("/persons/{a}/doses"),
            Some(&cookie),
            Some(&dose_form(&csrf)),
        )
        .await;
        let dose_id = s.store.doses_of(s.machida, &a).await.unwrap()[0].dose_id;
        let form = format!("{}&reason={}", dose_form(&csrf), enc("ロット番号の誤り"));
        let (status, location, _) = send(
            &s.app,
            "POST",
            &format!("/doses/{dose_id}/correct"),
            Some(&cookie),
            Some(&form),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", db.name);
        let location = location.unwrap();
        assert_eq!(location, format!("/doses/{dose_id}?corrected=2"));
        let (_, _, page) = send(&s.app, "GET", &location, Some(&cookie), None).await;
        assert!(
            visible_text(&page).contains("訂正しました (版 2)"),
            "{}",
            db.name
        );

        let (status, location, _) = send(
            &s.app,
            "POST",
            &format!("/doses/{dose_id}/delete"),
            Some(&cookie),
            Some(&format!("csrf={csrf}&reason={}", enc("二重登録"))),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, _, page) = send(&s.app, "GET", &location.unwrap(), Some(&cookie), None).await;
        assert!(
            visible_text(&page).contains(&format!("接種記録 {dose_id} を削除しました")),
            "{}",
            db.name
        );
    }
}

#[tokio::test]
async fn hostile_text_is_shown_as_text_and_no_page_has_a_my_number() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let hostile = &s.people[2];
        let (status, _, body) = send(
            &s.app,
            "POST",
            "/search",
            Some(&cookie),
            Some(&format!(
                "csrf={csrf}&kana={}",
                enc(&hostile.kana.to_string())
            )),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(
            body.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{}: {}",
            db.name,
            body.get(body.find("results").unwrap_or(0)..)
                .unwrap_or("")
                .chars()
                .take(600)
                .collect::<String>()
        );
        assert!(!body.contains("<script>alert(1)"), "{}", db.name);
        assert!(!sesshu_testkit::leaks_my_number(&body), "{}", db.name);
        for p in s.people.iter().take(10) {
            let (_, _, body) = send(
                &s.app,
                "GET",
                &format!("/persons/{}", p.address_number.as_str()),
                Some(&cookie),
                None,
            )
            .await;
            assert!(!sesshu_testkit::leaks_my_number(&body), "{}", db.name);
        }
        // A hostile value typed into a form comes back escaped too.
        let a = s.people[1].address_number.as_str().to_owned();
        let (status, _, body) = send(
            &s.app,
            "POST",
            &format!("/persons/{a}/doses"),
            Some(&cookie),
            Some(&format!(
                "csrf={csrf}&given_on=%3Cimg%20src%3Dx%3E&product=bcg&ordinal=1"
            )),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", db.name);
        assert!(!body.contains("<img src=x>"), "{}", db.name);
        assert!(
            body.contains("err-given_on"),
            "{}: the error is next to its field",
            db.name
        );
    }
}

fn multipart(csrf: &str, kind: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "sesshuBoundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, value) in [("csrf", csrf), ("kind", kind), ("mode", "diff")] {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"diff.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    app: &axum::Router,
    cookie: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let r = Request::post("/imports/preview")
        .header(header::COOKIE, format!("sesshu_session={cookie}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(r).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 22).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn an_upload_is_previewed_without_change_then_applied_by_its_own_session_only() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let (other, _) = session(&s.store, s.machida, "clerk").await;
        let newcomers = sesshu_testkit::town(300, 77);
        let mut file = sesshu_testkit::feed(&newcomers[250..252], TextEncoding::Utf8);
        file.extend("999999,壊れた行\n".as_bytes());
        let (ct, body) = multipart(&csrf, "residents", &file);
        let (status, page) = upload(&s.app, &cookie, &ct, body).await;
        assert_eq!(status, StatusCode::OK, "{}: {page}", db.name);
        assert!(page.contains("取込前の確認"), "{}", db.name);
        assert!(
            page.contains("preview-errors"),
            "{}: the bad row is listed",
            db.name
        );
        let a = newcomers[250].address_number.clone();
        assert!(
            s.store.person(s.machida, &a).await.unwrap().is_none(),
            "{}: a preview changes nothing",
            db.name
        );
        let id = page
            .split("name=\"upload\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        // Another session (even of the same account) cannot apply it.
        let other_csrf = sesshu_store::csrf_token(&other);
        let (status, _, page) = send(
            &s.app,
            "POST",
            "/imports/apply",
            Some(&other),
            Some(&format!("csrf={other_csrf}&upload={id}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(page.contains("見つかりません"), "{}", db.name);
        assert!(s.store.person(s.machida, &a).await.unwrap().is_none());
        // Its own session applies it, as a background job whose page shows how it ended: the
        // good rows are in, the bad one reported.
        let (status, location, _) = send(
            &s.app,
            "POST",
            "/imports/apply",
            Some(&cookie),
            Some(&format!("csrf={csrf}&upload={id}")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", db.name);
        let job = location.unwrap();
        assert!(job.starts_with("/jobs/"), "{}: {job}", db.name);
        let mut page = String::new();
        for _ in 0..200 {
            let (status, _, body) = send(&s.app, "GET", &job, Some(&cookie), None).await;
            assert_eq!(status, StatusCode::OK, "{}", db.name);
            page = body;
            if !page.contains("実行中") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            page.contains("完了") && page.contains("新規"),
            "{}: {page}",
            db.name
        );
        assert!(
            s.store.person(s.machida, &a).await.unwrap().is_some(),
            "{}",
            db.name
        );
        let import_id = s
            .store
            .job(s.machida, job.trim_start_matches("/jobs/"))
            .await
            .unwrap()
            .unwrap()
            .result
            .unwrap()["import_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, _, csv) = send(
            &s.app,
            "GET",
            &format!("/imports/{import_id}/errors.csv"),
            Some(&cookie),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(csv.lines().count() >= 2, "{}: {csv}", db.name);
        assert!(!sesshu_testkit::leaks_my_number(&csv), "{}", db.name);
        let exported = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    function: Some("import.errors".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(exported.len(), 1, "{}: the download is recorded", db.name);
        // Applied once: the same upload cannot be applied again.
        let (_, _, page) = send(
            &s.app,
            "POST",
            "/imports/apply",
            Some(&cookie),
            Some(&format!("csrf={csrf}&upload={id}")),
        )
        .await;
        assert!(page.contains("見つかりません"), "{}", db.name);
    }
}

/// Every visible field of every form has a label (by `for`, or by being inside one), so screen
/// readers name it and a click on the text focuses it.
fn unlabelled_fields(html: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for tag in ["<input", "<select"] {
        for (at, _) in html.match_indices(tag) {
            let end = html[at..].find('>').map_or(html.len(), |e| at + e);
            let element = &html[at..end];
            if element.contains("type=\"hidden\"") {
                continue;
            }
            let inside_label = html[..at]
                .rfind("<label")
                .is_some_and(|open| !html[open..at].contains("</label>"));
            let labelled = element
                .split("id=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .is_some_and(|id| html.contains(&format!("for=\"{id}\"")));
            if !(inside_label || labelled) {
                missing.push(element.to_owned());
            }
        }
    }
    missing
}

#[tokio::test]
async fn every_field_of_every_page_has_a_label() {
    // The check itself finds an unlabelled field.
    assert_eq!(
        unlabelled_fields("<form><input id=\"x\" name=\"x\"></form>").len(),
        1
    );
    assert!(unlabelled_fields("<label for=\"x\">X</label><input id=\"x\">").is_empty());
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let a = s.people[1].address_number.as_str().to_owned();
        let (clerk, _) = session(&s.store, s.machida, "clerk").await;
        common::account(&s.store, s.machida, "admin", "role:administrator", None).await;
        let (admin, _) = session(&s.store, s.machida, "admin").await;
        common::account(&s.store, s.machida, "auditor", "role:auditor", None).await;
        let (auditor, _) = session(&s.store, s.machida, "auditor").await;
        let pages = [
            (None, "/login".to_owned()),
            (None, "/password".to_owned()),
            (Some(&clerk), "/search".to_owned()),
            (Some(&clerk), format!("/persons/{a}")),
            (Some(&clerk), format!("/persons/{a}/doses?series=bcg")),
            (Some(&clerk), "/imports".to_owned()),
            (Some(&admin), "/admin/users".to_owned()),
            (Some(&auditor), "/audit".to_owned()),
        ];
        for (cookie, uri) in pages {
            let (status, _, html) =
                send(&s.app, "GET", &uri, cookie.map(String::as_str), None).await;
            assert_eq!(status, StatusCode::OK, "{}: {uri}", db.name);
            let missing = unlabelled_fields(&html);
            assert!(missing.is_empty(), "{}: {uri}: {missing:?}", db.name);
            assert!(html.contains("<html lang=\"ja\">"), "{}: {uri}", db.name);
        }
    }
}

#[tokio::test]
async fn search_takes_a_wareki_birth_date_a_household_or_a_number() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let p = &s.people[7];
        let wareki = sesshu_domain::format_wareki(p.birth_date);
        let (status, _, body) = send(
            &s.app,
            "POST",
            "/search",
            Some(&cookie),
            Some(&format!("csrf={csrf}&birth_date={}", enc(&wareki))),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {wareki}", db.name);
        assert!(body.contains(&p.name.to_string()), "{}: {wareki}", db.name);
        if let Some(h) = &p.household_number {
            let (_, _, body) = send(
                &s.app,
                "POST",
                "/search",
                Some(&cookie),
                Some(&format!("csrf={csrf}&household={}", h.as_str())),
            )
            .await;
            assert!(body.contains(&p.name.to_string()), "{}", db.name);
        }
        // A 宛名番号 goes straight to the person; a bad date is explained next to the form.
        let (status, location, _) = send(
            &s.app,
            "POST",
            "/search",
            Some(&cookie),
            Some(&format!(
                "csrf={csrf}&address_number={}",
                p.address_number.as_str()
            )),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", db.name);
        assert_eq!(
            location.as_deref(),
            Some(format!("/persons/{}", p.address_number.as_str()).as_str())
        );
        let (_, _, body) = send(
            &s.app,
            "POST",
            "/search",
            Some(&cookie),
            Some(&format!("csrf={csrf}&birth_date=2026-02-30")),
        )
        .await;
        assert!(
            body.contains("search-error") && body.contains("生年月日"),
            "{}",
            db.name
        );
        // The name as written, a variant typed for the registered form; the count is the total.
        let family: String = p.name.family.clone();
        let (_, _, body) = send(
            &s.app,
            "POST",
            "/search",
            Some(&cookie),
            Some(&format!(
                "csrf={csrf}&name={}&sort=birth_date",
                enc(&family)
            )),
        )
        .await;
        assert!(body.contains(&p.name.to_string()), "{}", db.name);
        assert!(
            body.contains("該当 ") && body.contains("件中 1〜"),
            "{}",
            db.name
        );
        // A kanji in the kana box is named next to the box, and what was typed stays.
        let (_, _, body) = send(
            &s.app,
            "POST",
            "/search",
            Some(&cookie),
            Some(&format!("csrf={csrf}&kana={}", enc("𠮷"))),
        )
        .await;
        assert!(
            body.contains("id=\"err-kana\"") && body.contains("「𠮷」は漢字です"),
            "{}",
            db.name
        );
    }
}

/// A run planned for one person (Hib 1回目, January 2026), as `notices issue` keeps it.
async fn plan(
    s: &Site,
    p: &sesshu_domain::Person,
    documents: &[String],
    needs_approval: bool,
    summary: serde_json::Value,
    by: &str,
) -> sesshu_store::NoticeRun {
    let q = sesshu_store::RecallQuery {
        series: "hib".into(),
        dose: Some(1),
        from: sesshu_testkit::day("2026-01-01"),
        to: sesshu_testkit::day("2026-01-31"),
        basis: sesshu_store::RecallBasis::Opens,
        recall_of: None,
        as_of: sesshu_testkit::day("2026-01-01"),
    };
    let member = sesshu_store::RecallMember {
        address_number: p.address_number.as_str().to_owned(),
        birth_date: p.birth_date,
        protected: false,
        dose: 1,
        stage: "初回1回目".into(),
        window: [q.from, q.to],
        standard_window: None,
        reason: "初回1回目: 接種できる期間が 2026-01-01 に始まる".into(),
    };
    s.store
        .create_notice_run(
            s.machida,
            sesshu_store::NewRun {
                query: &q,
                documents,
                release_protected: false,
                needs_approval,
                summary,
                members: std::slice::from_ref(&member),
                by,
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_person_page_lists_the_notices_and_tickets_issued() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let p = &s.people[5];
        let run = plan(
            &s,
            p,
            &["notice".into(), "ticket".into()],
            false,
            serde_json::json!({}),
            "planner",
        )
        .await;
        let line = |_: &str, dose: u32, n: u64| Some(format!("9{dose}132098{n:010}"));
        s.store
            .begin_issue(
                s.machida,
                &run.run_id,
                "printer",
                Some(&line),
                "/nonexistent",
            )
            .await
            .unwrap();
        s.store.finish_issue(s.machida, &run.run_id).await.unwrap();

        let (cookie, _) = session(&s.store, s.machida, "clerk").await;
        let uri = format!("/persons/{}", p.address_number.as_str());
        let (status, _, body) = send(&s.app, "GET", &uri, Some(&cookie), None).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(
            body.contains("id=\"issued\""),
            "{}: no issued section",
            db.name
        );
        assert!(
            body.contains(&format!("{}-000001", run.run_id)),
            "{}",
            db.name
        );
        assert!(
            body.contains("0000000001"),
            "{}: the ticket number",
            db.name
        );

        // A certificate: listed on the page, and checked by its ID on the verification page.
        let signer =
            sesshu_crypto::certificate::CertificateSigner::current(&Keyring::generate(), "132098")
                .unwrap();
        s.store
            .register_certificate_key(s.machida, signer.key_id(), &signer.public_key().to_text())
            .await
            .unwrap();
        let id = "132098-2026-000001";
        let record = sesshu_store::CertificateRecord {
            certificate_id: id.into(),
            address_number: p.address_number.as_str().into(),
            travel: false,
            issued_on: "2026-12-01".into(),
            issued_by: "printer".into(),
            issued_at: "2026-12-01T00:00:00Z".into(),
            token: signer.sign(format!(r#"{{"id":"{id}","n":"見本 太郎","d":[]}}"#).as_bytes()),
            key_id: signer.key_id().into(),
            pdf_sha256: "00".repeat(32),
            reissue_of: None,
            revoked_at: None,
            revoked_reason: None,
        };
        s.store
            .record_certificate(s.machida, &record)
            .await
            .unwrap();
        let (_, _, body) = send(&s.app, "GET", &uri, Some(&cookie), None).await;
        assert!(
            body.contains(id),
            "{}: the certificate on the person page",
            db.name
        );
        let (cookie2, csrf2) = session(&s.store, s.machida, "clerk").await;
        let (status, _, body) = send(
            &s.app,
            "POST",
            "/certificates/verify",
            Some(&cookie2),
            Some(&format!("csrf={csrf2}&id={id}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(body.contains("真正な証明書です"), "{}: {body}", db.name);
        let (_, _, body) = send(
            &s.app,
            "POST",
            "/certificates/verify",
            Some(&cookie2),
            Some(&format!("csrf={csrf2}&id=132098-2026-999999")),
        )
        .await;
        assert!(body.contains("発行記録はありません"), "{}", db.name);
        // Without dose.read the page is refused.
        common::account(&s.store, s.machida, "reader", "person.read", None).await;
        let (reader, _) = session(&s.store, s.machida, "reader").await;
        let (status, _, _) = send(&s.app, "GET", "/certificates/verify", Some(&reader), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);

        // Another municipality's staff, on the same address number in their own register
        // (the synthetic towns share numbering), see none of it.
        let (other, _) = session(
            &s.store,
            MunicipalityCode::parse("011002").unwrap(),
            "other",
        )
        .await;
        let (_, _, body) = send(&s.app, "GET", &uri, Some(&other), None).await;
        assert!(!body.contains("0000000001"), "{}", db.name);
        assert!(!body.contains(&run.run_id), "{}", db.name);
    }
}

#[tokio::test]
async fn a_use_suspension_is_recorded_and_lifted_from_the_person_page_by_person_write_only() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let a = s.people[1].address_number.as_str().to_owned();
        let url = format!("/persons/{a}/suspension");
        // A clerk (no person.write) sees no form and is refused.
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let (_, _, body) = send(&s.app, "GET", &format!("/persons/{a}"), Some(&cookie), None).await;
        assert!(!body.contains("利用停止の請求を記録する"), "{}", db.name);
        let form = format!("csrf={csrf}&requested_on=&reason={}", enc("本人の請求"));
        let (status, _, _) = send(&s.app, "POST", &url, Some(&cookie), Some(&form)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);
        assert!(
            s.store
                .suspension_in_force(s.machida, &a)
                .await
                .unwrap()
                .is_none()
        );

        common::account(&s.store, s.machida, "kakari", "role:clerk", None).await;
        grant(&s.store, s.machida, "kakari", "person.write").await;
        let (cookie, csrf) = session(&s.store, s.machida, "kakari").await;
        // A bad date and an empty reason are shown next to their fields; nothing is recorded.
        let bad = format!(
            "csrf={csrf}&requested_on={}&reason=&confirm=1",
            enc("令和99年")
        );
        let (status, _, body) = send(&s.app, "POST", &url, Some(&cookie), Some(&bad)).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(
            body.contains("id=\"requested-on-error\""),
            "{}: {body}",
            db.name
        );
        assert!(
            body.contains("請求の内容・理由を入力してください"),
            "{}",
            db.name
        );
        assert!(
            s.store
                .suspension_in_force(s.machida, &a)
                .await
                .unwrap()
                .is_none()
        );
        // Another municipality's person cannot be suspended from here.
        let sapporo = MunicipalityCode::parse("011002").unwrap();
        grant(&s.store, sapporo, "other", "person.write").await;
        let (other, other_csrf) = session(&s.store, sapporo, "other").await;
        send(
            &s.app,
            "POST",
            &url,
            Some(&other),
            Some(&format!("csrf={other_csrf}&reason=x&confirm=1")),
        )
        .await;
        assert!(
            s.store
                .suspension_in_force(s.machida, &a)
                .await
                .unwrap()
                .is_none(),
            "{}: Sapporo suspended Machida's resident",
            db.name
        );

        // Not without the tick that names whose notices stop.
        let unticked = format!(
            "csrf={csrf}&requested_on=2026-11-20&reason={}",
            enc("窓口で利用停止を請求")
        );
        let (_, _, body) = send(&s.app, "POST", &url, Some(&cookie), Some(&unticked)).await;
        assert!(
            body.contains("id=\"suspension-confirm-error\"")
                && body.contains(&format!("(宛名番号 {a}) への通知・接種券の送付を")),
            "{}",
            db.name
        );
        assert!(
            s.store
                .suspension_in_force(s.machida, &a)
                .await
                .unwrap()
                .is_none(),
            "{}: recorded without confirmation",
            db.name
        );
        let good = format!("{unticked}&confirm=1");
        let (status, _, body) = send(&s.app, "POST", &url, Some(&cookie), Some(&good)).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(body.contains("利用停止中"), "{}", db.name);
        assert!(body.contains("利用停止を解除する"), "{}", db.name);
        // A second request while one is in force is refused next to the field, and audited.
        let (_, _, body) = send(&s.app, "POST", &url, Some(&cookie), Some(&good)).await;
        assert!(body.contains("既に利用停止中"), "{}", db.name);
        let refused = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    actor: Some("user:kakari".into()),
                    function: Some("person.suspend".into()),
                    person: Some(a.clone()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            refused.iter().any(|e| e.outcome == "refused"),
            "{}",
            db.name
        );
        let held = s
            .store
            .suspension_in_force(s.machida, &a)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.requested_on, "2026-11-20");
        assert_eq!(held.recorded_by, "user:kakari");
        let (status, _, body) = send(
            &s.app,
            "POST",
            &format!("{url}/lift"),
            Some(&cookie),
            Some(&format!("csrf={csrf}&reason={}", enc("取り下げ"))),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(body.contains("利用停止を解除しました"), "{}", db.name);
        let all = s.store.suspensions_of_person(s.machida, &a).await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].lifted.as_ref().unwrap().reason, "取り下げ");
        let audited = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    person: Some(a.clone()),
                    actor: Some("user:kakari".into()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for f in ["person.suspend", "person.lift_suspension"] {
            assert!(
                audited.iter().any(|e| e.function == f && e.outcome == "ok"),
                "{}: {f}",
                db.name
            );
        }
    }
}

#[tokio::test]
async fn a_planned_run_is_reviewed_and_approved_by_a_second_login_only() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let p = &s.people[7];
        let summary = serde_json::json!({
            "series_name": "Hib感染症", "count": 1, "protected": 0, "examined": 3,
            "cohorts": [{"born": "2025-11", "count": 1, "window": ["2026-01-01", "2030-10-31"]}],
            "excluded": {"死亡": 1, "期間外": 1},
            "checks": {"passed": true, "failures": []},
        });
        // Planned on the command line by the clerk, under the clerk's name.
        let run = plan(&s, p, &["notice".into()], true, summary, "cli:clerk").await;
        let page = format!("/notices/{}", run.run_id);
        let approve = format!("{page}/approve");
        let status_of = || async {
            s.store
                .notice_run(s.machida, &run.run_id)
                .await
                .unwrap()
                .unwrap()
                .status
        };

        // Without notice.run: neither the list, the run nor the approval.
        let (viewer, viewer_csrf) = session(&s.store, s.machida, "viewer").await;
        for uri in ["/notices", page.as_str()] {
            let (status, _, _) = send(&s.app, "GET", uri, Some(&viewer), None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}: {uri}", db.name);
        }
        let (status, _, _) = send(
            &s.app,
            "POST",
            &approve,
            Some(&viewer),
            Some(&format!("csrf={viewer_csrf}")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);

        // The planner reads it but cannot approve it from the pages either.
        let (clerk, clerk_csrf) = session(&s.store, s.machida, "clerk").await;
        let (_, _, list) = send(&s.app, "GET", "/notices", Some(&clerk), None).await;
        assert!(
            list.contains(&run.run_id) && list.contains("承認待ち"),
            "{}",
            db.name
        );
        let (status, _, body) = send(&s.app, "GET", &page, Some(&clerk), None).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        for expected in [
            "Hib感染症 1回目",
            "2025-11",
            "死亡",
            p.address_number.as_str(),
            "2026-01-01 に始まる",
            "勧奨通知",
            "id=\"approve\"",
        ] {
            assert!(body.contains(expected), "{}: {expected}", db.name);
        }
        let (_, _, body) = send(
            &s.app,
            "POST",
            &approve,
            Some(&clerk),
            Some(&format!("csrf={clerk_csrf}")),
        )
        .await;
        assert!(body.contains("自分の通知を承認できません"), "{}", db.name);
        assert_eq!(status_of().await, sesshu_store::RunStatus::AwaitingApproval);

        // Another municipality's clerk finds no such run.
        let sapporo = MunicipalityCode::parse("011002").unwrap();
        let (other, other_csrf) = session(&s.store, sapporo, "other").await;
        let (status, _, _) = send(&s.app, "GET", &page, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name);
        let (status, _, _) = send(
            &s.app,
            "POST",
            &approve,
            Some(&other),
            Some(&format!("csrf={other_csrf}")),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name);
        assert_eq!(status_of().await, sesshu_store::RunStatus::AwaitingApproval);

        // A colleague approves; a forged form first changes nothing.
        common::account(&s.store, s.machida, "clerk2", "role:clerk", None).await;
        let (colleague, colleague_csrf) = session(&s.store, s.machida, "clerk2").await;
        let (status, _, _) = send(
            &s.app,
            "POST",
            &approve,
            Some(&colleague),
            Some("csrf=forged"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);
        assert_eq!(status_of().await, sesshu_store::RunStatus::AwaitingApproval);
        let (_, _, body) = send(
            &s.app,
            "POST",
            &approve,
            Some(&colleague),
            Some(&format!("csrf={colleague_csrf}")),
        )
        .await;
        assert!(body.contains("を承認しました"), "{}: {body}", db.name);
        let approved = s
            .store
            .notice_run(s.machida, &run.run_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(approved.status, sesshu_store::RunStatus::Ready);
        assert_eq!(approved.approved_by.as_deref(), Some("user:clerk2"));
        let entries = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    function: Some("notice.approve".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let outcomes: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.actor.as_str(), e.outcome.as_str()))
            .collect();
        for expected in [
            ("user:viewer", "refused"),
            ("user:clerk", "refused"),
            ("user:clerk2", "ok"),
        ] {
            assert!(outcomes.contains(&expected), "{}: {outcomes:?}", db.name);
        }

        // Until printing starts it can still be cancelled.
        let (_, _, body) = send(
            &s.app,
            "POST",
            &format!("{page}/cancel"),
            Some(&colleague),
            Some(&format!("csrf={colleague_csrf}")),
        )
        .await;
        assert!(body.contains("を取り消しました"), "{}", db.name);
        assert_eq!(status_of().await, sesshu_store::RunStatus::Cancelled);
    }
}

#[tokio::test]
async fn the_counter_pages_refuse_without_permission_across_municipalities_and_forged_forms() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let p = &s.people[5];
        let run = plan(
            &s,
            p,
            &["notice".into()],
            true,
            serde_json::json!({}),
            "planner",
        )
        .await;
        let a = p.address_number.as_str().to_owned();
        let id = &run.run_id;

        // A viewer (no notice.run, no certificate.issue) is refused each page and action, with
        // a valid form token, and every refusal is audited.
        let (viewer, csrf) = session(&s.store, s.machida, "viewer").await;
        let form = format!(
            "csrf={csrf}&series=hib&from=2026-01-01&to=2026-01-31&notice=1&ticket_number=0000000001&reason=x"
        );
        for (method, uri) in [
            ("GET", "/notices/new".to_owned()),
            ("POST", "/notices/preview".to_owned()),
            ("POST", "/notices/plan".to_owned()),
            ("GET", format!("/notices/{id}")),
            ("POST", format!("/notices/{id}/approve")),
            ("POST", format!("/notices/{id}/print")),
            ("GET", format!("/notices/{id}/files/{id}-notice-001.pdf")),
            ("POST", "/tickets/reissue".to_owned()),
            ("POST", format!("/persons/{a}/certificates")),
            ("GET", "/certificates/132098-2026-000001".to_owned()),
            ("POST", "/certificates/132098-2026-000001/revoke".to_owned()),
        ] {
            let body = (method == "POST").then_some(form.as_str());
            let (status, _, page) = send(&s.app, method, &uri, Some(&viewer), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}: {method} {uri}", db.name);
            assert!(page.contains("権限がありません"), "{}: {uri}", db.name);
        }
        let refused = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    actor: Some("user:viewer".into()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            refused.iter().filter(|e| e.outcome == "refused").count() >= 11,
            "{}: every refusal audited",
            db.name
        );
        assert!(
            s.store
                .notice_run(s.machida, id)
                .await
                .unwrap()
                .unwrap()
                .approved_by
                .is_none()
        );

        // Another municipality's clerk finds nothing of this one's.
        let (other, csrf) = session(
            &s.store,
            MunicipalityCode::parse("011002").unwrap(),
            "other",
        )
        .await;
        for uri in [
            format!("/notices/{id}"),
            format!("/notices/{id}/files/{id}-notice-001.pdf"),
        ] {
            let (status, _, page) = send(&s.app, "GET", &uri, Some(&other), None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{}: {uri}", db.name);
            assert!(!page.contains(&p.name.to_string()));
        }
        let (status, _, _) = send(
            &s.app,
            "POST",
            &format!("/notices/{id}/approve"),
            Some(&other),
            Some(&format!("csrf={csrf}")),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name);
        assert!(
            s.store
                .notice_run(s.machida, id)
                .await
                .unwrap()
                .unwrap()
                .approved_by
                .is_none()
        );

        // A clerk's form without its token changes nothing.
        let (clerk, _) = session(&s.store, s.machida, "clerk").await;
        for uri in [
            format!("/notices/{id}/approve"),
            format!("/notices/{id}/print"),
            "/notices/plan".to_owned(),
            "/tickets/reissue".to_owned(),
            format!("/persons/{a}/certificates"),
            "/certificates/132098-2026-000001/revoke".to_owned(),
        ] {
            let (status, _, _) = send(
                &s.app,
                "POST",
                &uri,
                Some(&clerk),
                Some("csrf=forged&series=hib&from=2026-01-01&to=2026-01-31&notice=1"),
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}: {uri}", db.name);
        }
        assert!(
            s.store
                .notice_run(s.machida, id)
                .await
                .unwrap()
                .unwrap()
                .approved_by
                .is_none()
        );
        assert_eq!(s.store.notice_runs(s.machida).await.unwrap().len(), 1);

        // The planning form says what is wrong next to the field.
        let (clerk, csrf) = session(&s.store, s.machida, "clerk").await;
        let (status, _, page) = send(
            &s.app,
            "POST",
            "/notices/preview",
            Some(&clerk),
            Some(&format!(
                "csrf={csrf}&series=hib&from=2026-02-01&to=2026-01-01&notice=1"
            )),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(page.contains("field-error"), "{}", db.name);
        assert!(page.contains("より前です"), "{}", db.name);
    }
}

/// Instants are kept in UTC and shown in Japan time: on the import history and in the
/// auditor's CSV (an evening import in UTC is the next morning's in Japan).
#[tokio::test]
async fn times_are_shown_in_japan_time() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let (clerk, _) = session(&s.store, s.machida, "clerk").await;
        let runs = s.store.import_runs(s.machida, 10).await.unwrap();
        let stored = &runs[0].started_at;
        assert!(stored.ends_with('Z'), "{}: kept in UTC: {stored}", db.name);
        let (status, _, html) = send(&s.app, "GET", "/imports", Some(&clerk), None).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        let shown = sesshu_domain::japan_minutes(stored);
        assert!(
            html.contains(&shown),
            "{}: {shown} not on the page",
            db.name
        );
        assert!(
            !html.contains(stored.as_str()),
            "{}: a UTC stamp shown",
            db.name
        );

        // A person read, so the log has an entry before the export.
        let a = s.people[1].address_number.as_str();
        let (status, _, _) =
            send(&s.app, "GET", &format!("/persons/{a}"), Some(&clerk), None).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        common::account(&s.store, s.machida, "auditor", "role:auditor", None).await;
        let (auditor, csrf) = session(&s.store, s.machida, "auditor").await;
        let (status, _, csv) = send(
            &s.app,
            "POST",
            "/audit/export.csv",
            Some(&auditor),
            Some(&format!("csrf={csrf}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        let entries = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    limit: 5,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let read: Vec<_> = entries
            .iter()
            .filter(|e| e.function == "person.read")
            .collect();
        assert!(!read.is_empty(), "{}", db.name);
        for e in read {
            assert!(
                csv.contains(&sesshu_domain::japan_seconds(&e.at)) && !csv.contains(e.at.as_str()),
                "{}: entry {} at {}: {}",
                db.name,
                e.seq,
                e.at,
                csv.chars().take(600).collect::<String>()
            );
        }
    }
}

/// The auditor's page speaks Japanese (function names, outcomes), shows persons as a count that
/// opens, lists the newest first, offers the functions as a list, and refuses an impossible date
/// next to its field rather than answering 0件.
#[tokio::test]
async fn the_auditor_reads_the_log_in_japanese_newest_first() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let (clerk, csrf) = session(&s.store, s.machida, "clerk").await;
        let kana = enc(&s.people[1].kana.family);
        send(
            &s.app,
            "POST",
            "/search",
            Some(&clerk),
            Some(&format!("csrf={csrf}&kana={kana}")),
        )
        .await;
        let a = s.people[1].address_number.as_str();
        send(&s.app, "GET", &format!("/persons/{a}"), Some(&clerk), None).await;
        common::account(&s.store, s.machida, "auditor", "role:auditor", None).await;
        let (auditor, csrf) = session(&s.store, s.machida, "auditor").await;
        let (status, _, form) = send(&s.app, "GET", "/audit", Some(&auditor), None).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(
            form.contains("<option value=\"person.read\"") && form.contains(">宛名の閲覧</option>"),
            "{}: functions offered by name",
            db.name
        );
        assert!(
            form.contains("value=\"user:clerk\""),
            "{}: logins offered",
            db.name
        );
        let (status, _, html) = send(
            &s.app,
            "POST",
            "/audit",
            Some(&auditor),
            Some(&format!("csrf={csrf}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        let table = &html[html.find("id=\"entries\"").unwrap()..];
        let read = table.find(">宛名の閲覧<").unwrap();
        let search = table.find(">宛名の検索<").unwrap();
        assert!(read < search, "{}: the later read is listed first", db.name);
        assert!(
            !table.contains(">person.read<"),
            "{}: no internal key",
            db.name
        );
        assert!(
            table.contains("名</summary>"),
            "{}: persons as a count",
            db.name
        );
        assert!(
            !table.contains("[&quot;"),
            "{}: no JSON list of persons",
            db.name
        );

        let (_, _, html) = send(
            &s.app,
            "POST",
            "/audit",
            Some(&auditor),
            Some(&format!("csrf={csrf}&until=2026-12-32")),
        )
        .await;
        assert!(
            html.contains("id=\"err-until\"") && !html.contains("id=\"entries\""),
            "{}: an impossible date is named, not searched",
            db.name
        );
    }
}

/// Text as a person reads it: tags (and their attributes) gone.
fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The person page names every series as staff know it — no sequence row (mr, je) repeating its
/// periods, no key as text, the B類 series only for a person old enough for them — and the access
/// review, its CSV and the grant form name roles and permissions in Japanese.
#[tokio::test]
async fn series_roles_and_permissions_are_named_in_japanese() {
    let book = sesshu_schedule::RuleBook::builtin().unwrap();
    let b_class: Vec<&str> = book
        .series
        .iter()
        .filter(|s| s.class == sesshu_schedule::rules::Class::B)
        .map(|s| s.key.as_str())
        .collect();
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let (clerk, _) = session(&s.store, s.machida, "clerk").await;
        let today = sesshu_web::today_in_japan();
        let age = |p: &sesshu_domain::Person| sesshu_domain::age_on(p.birth_date, today).unwrap();
        let child = s.people.iter().find(|p| age(p) < 10).expect("a child");
        let elder = s.people.iter().find(|p| age(p) >= 66).expect("an elder");
        for (who, p) in [("child", child), ("elder", elder)] {
            let uri = format!("/persons/{}", p.address_number.as_str());
            let (status, _, html) = send(&s.app, "GET", &uri, Some(&clerk), None).await;
            assert_eq!(status, StatusCode::OK, "{}", db.name);
            let rows: Vec<&str> = html
                .split("data-series=\"")
                .skip(1)
                .filter_map(|r| r.split('"').next())
                .collect();
            for key in &rows {
                assert!(
                    book.series(key).is_some(),
                    "{}: {who}: row {key} is no series",
                    db.name
                );
            }
            let mut unique = rows.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), rows.len(), "{}: {who}: {rows:?}", db.name);
            let text = visible_text(&html);
            for series in &book.series {
                assert!(
                    !text.contains(&format!(" {} ", series.key)),
                    "{}: {who}: the key {} shown",
                    db.name,
                    series.key
                );
            }
            assert!(
                !text.contains(" mr ") && !text.contains(" je "),
                "{}",
                db.name
            );
            let b_rows = rows.iter().filter(|k| b_class.contains(k)).count();
            if who == "child" {
                assert_eq!(b_rows, 0, "{}: B類 rows for a child: {rows:?}", db.name);
            } else {
                assert!(
                    rows.contains(&"flu_b") && text.contains("インフルエンザ(高齢者)"),
                    "{}: {rows:?}",
                    db.name
                );
            }
        }

        common::account(&s.store, s.machida, "kanri", "role:administrator", None).await;
        let (admin, _) = session(&s.store, s.machida, "kanri").await;
        let (status, _, html) = send(&s.app, "GET", "/admin/users", Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        let (_, _, csv) = send(
            &s.app,
            "GET",
            "/admin/access-review.csv",
            Some(&admin),
            None,
        )
        .await;
        for (what, text) in [("page", visible_text(&html)), ("csv", csv)] {
            assert!(
                text.contains("予防接種事務担当") && text.contains("接種記録の登録・訂正"),
                "{}: {what}",
                db.name
            );
            for p in sesshu_domain::access::Permission::ALL {
                assert!(
                    !text.contains(p.code()),
                    "{}: {what} shows {}",
                    db.name,
                    p.code()
                );
            }
            assert!(!text.contains("role:"), "{}: {what}", db.name);
        }
    }
}

/// Uploads a file of `kind`, applies it, waits for its job, and returns the import's ID.
async fn import_through_the_page(
    s: &Site,
    cookie: &str,
    csrf: &str,
    kind: &str,
    file: &[u8],
) -> String {
    let (_, id) = preview_through_the_page(s, cookie, csrf, kind, file).await;
    apply_through_the_page(s, cookie, csrf, &id, "").await
}

/// Uploads a file for its preview: the page and the upload's id.
async fn preview_through_the_page(
    s: &Site,
    cookie: &str,
    csrf: &str,
    kind: &str,
    file: &[u8],
) -> (String, String) {
    let (ct, body) = multipart(csrf, kind, file);
    let (status, page) = upload(&s.app, cookie, &ct, body).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let id = page
        .split("name=\"upload\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    (page, id)
}

/// Applies a previewed upload (`extra`: more form fields) and waits for its job: the import's id.
async fn apply_through_the_page(
    s: &Site,
    cookie: &str,
    csrf: &str,
    upload_id: &str,
    extra: &str,
) -> String {
    let (status, location, page) = send(
        &s.app,
        "POST",
        "/imports/apply",
        Some(cookie),
        Some(&format!("csrf={csrf}&upload={upload_id}{extra}")),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let job = location.unwrap();
    for _ in 0..200 {
        let (_, _, body) = send(&s.app, "GET", &job, Some(cookie), None).await;
        if !body.contains("実行中") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    s.store
        .job(s.machida, job.trim_start_matches("/jobs/"))
        .await
        .unwrap()
        .unwrap()
        .result
        .unwrap()["import_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A resident file that would change the names of many persons lists them (before and after)
/// in its preview, with the tick beside the apply button; applying without the tick changes
/// nothing and says why next to it; with the tick the file applies.
#[tokio::test]
async fn a_file_changing_many_names_applies_only_after_the_tick_under_their_list() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let n = usize::try_from(sesshu_app::imports::IDENTITY_CONFIRM_FROM).unwrap();
        let mut renamed: Vec<sesshu_domain::Person> = s.people[20..20 + n].to_vec();
        for p in &mut renamed {
            p.name = sesshu_domain::PersonName::parse(&format!("{}　変子", p.name.family)).unwrap();
        }
        let before = s.people[20].name.to_string();
        let after = renamed[0].name.to_string();
        let file = sesshu_testkit::feed(&renamed, TextEncoding::Utf8);
        let (page, id) = preview_through_the_page(&s, &cookie, &csrf, "residents", &file).await;
        let text = visible_text(&page);
        assert!(page.contains("id=\"identity-changes\""), "{}", db.name);
        assert!(text.contains(&before) && text.contains(&after), "{text}");
        assert!(text.contains(&format!("{n}人の氏名・生年月日の変更を確認しました")));
        // The tick comes before the lists, right above the button.
        let tick = page.find("id=\"confirm_identity\"").unwrap();
        assert!(tick < page.find("id=\"apply\"").unwrap());
        assert!(tick < page.find("id=\"identity-changes\"").unwrap());

        let name_now = || async {
            let row = s
                .store
                .person(s.machida, &s.people[20].address_number)
                .await
                .unwrap()
                .unwrap();
            row.person.name.to_string()
        };
        let (status, _, page) = send(
            &s.app,
            "POST",
            "/imports/apply",
            Some(&cookie),
            Some(&format!("csrf={csrf}&upload={id}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {page}", db.name);
        assert!(page.contains("id=\"confirm_identity-error\""), "{page}");
        assert!(visible_text(&page).contains("確認の印を付けてから適用してください"));
        assert_eq!(name_now().await, before, "{}: nothing applied", db.name);

        apply_through_the_page(&s, &cookie, &csrf, &id, "&confirm_identity=1").await;
        assert_eq!(name_now().await, after, "{}", db.name);
    }
}

/// Flagged doses are work: listed with the person, the reason and the clinic, filtered by
/// import, clinic and reason, linked from the import history; what was done is recorded (by
/// dose.write only, never across municipalities) and audited, and the done ones leave the open
/// list. The refused rows' CSV names the 宛名番号 and the clinic.
#[tokio::test]
async fn flagged_doses_are_a_worklist_and_refused_rows_name_person_and_clinic() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let today = sesshu_web::today_in_japan();
        let adult = s
            .people
            .iter()
            .find(|p| sesshu_domain::age_on(p.birth_date, today).unwrap() >= 20)
            .expect("an adult");
        let a = adult.address_number.as_str();
        let birth = adult.birth_date.format("%Y%m%d");
        let given = (today - chrono::Days::new(30)).format("%Y%m%d").to_string();
        let earlier = (today - chrono::Days::new(60)).format("%Y%m%d").to_string();
        let header = sesshu_formats::dose::DOSE_COLUMNS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(",");
        let row = |clinic: &str, name: &str, address: &str, vaccine: &str, day: &str| {
            format!(
                "{clinic},{name},医師,{address},,,{birth},,{vaccine},1,{day},L1,,0.5,1,,,,,,,\n"
            )
        };
        let file = format!(
            "{header}\n{}{}{}",
            row("1310000001", "あおば小児科", a, "bcg", &given),
            row("1310000002", "みどり医院", a, "mr", &earlier),
            row("1310000001", "あおば小児科", "999999999", "bcg", &given),
        );
        let import_id = import_through_the_page(&s, &cookie, &csrf, "doses", file.as_bytes()).await;

        // The refused row names whom and where, without the original file.
        let (_, _, csv) = send(
            &s.app,
            "GET",
            &format!("/imports/{import_id}/errors.csv"),
            Some(&cookie),
            None,
        )
        .await;
        let header = csv.lines().next().unwrap();
        assert!(
            header.contains("宛名番号") && header.contains("医療機関"),
            "{}: {header}",
            db.name
        );
        assert!(
            csv.contains("999999999") && csv.contains("1310000001 あおば小児科"),
            "{}: {csv}",
            db.name
        );

        // The import history links to its flagged doses.
        let (_, _, imports) = send(&s.app, "GET", "/imports", Some(&cookie), None).await;
        assert!(
            imports.contains(&format!("/doses/flagged?import={import_id}")),
            "{}",
            db.name
        );
        let (status, _, list) = send(&s.app, "GET", "/doses/flagged", Some(&cookie), None).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(list.contains("該当 2件"), "{}: {list}", db.name);
        assert!(
            list.contains(a) && list.contains("みどり医院") && list.contains("BCG"),
            "{}",
            db.name
        );
        let uri = format!("/doses/flagged?clinic={}", enc("1310000002 みどり医院"));
        let (_, _, by_clinic) = send(&s.app, "GET", &uri, Some(&cookie), None).await;
        assert!(by_clinic.contains("該当 1件"), "{}", db.name);
        assert!(!by_clinic.contains(">BCG 1回<"), "{}", db.name);
        let other_import = format!("/doses/flagged?import=nothing-{import_id}");
        let (_, _, none) = send(&s.app, "GET", &other_import, Some(&cookie), None).await;
        assert!(none.contains("該当 0件"), "{}", db.name);

        let flagged = s
            .store
            .flagged_doses(s.machida, sesshu_store::ReviewState::Open)
            .await
            .unwrap();
        let bcg = flagged
            .iter()
            .find(|f| f.row.dose.product == "bcg")
            .unwrap()
            .row
            .dose_id;
        let reason = sesshu_domain::dose::reason_kind(
            flagged
                .iter()
                .find(|f| f.row.dose_id == bcg)
                .unwrap()
                .row
                .evaluation
                .as_deref()
                .unwrap(),
        );
        let uri = format!("/doses/flagged?reason={}", enc(&reason));
        let (_, _, by_reason) = send(&s.app, "GET", &uri, Some(&cookie), None).await;
        assert!(
            by_reason.contains(&format!("data-dose=\"{bcg}\"")),
            "{}",
            db.name
        );

        // Acting needs dose.write, the session's token, and this municipality.
        let form = format!(
            "csrf={csrf}&action=confirmed&note={}",
            enc("あおば小児科に電話で確認")
        );
        let (viewer, viewer_csrf) = session(&s.store, s.machida, "viewer").await;
        let (status, _, _) = send(
            &s.app,
            "POST",
            &format!("/doses/flagged/{bcg}"),
            Some(&viewer),
            Some(&format!("csrf={viewer_csrf}&action=confirmed")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);
        let (status, _, _) = send(
            &s.app,
            "POST",
            &format!("/doses/flagged/{bcg}"),
            Some(&cookie),
            Some("csrf=forged&action=confirmed"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);
        let sapporo = MunicipalityCode::parse("011002").unwrap();
        let (other, other_csrf) = session(&s.store, sapporo, "other").await;
        let (_, _, page) = send(
            &s.app,
            "POST",
            &format!("/doses/flagged/{bcg}"),
            Some(&other),
            Some(&format!("csrf={other_csrf}&action=confirmed")),
        )
        .await;
        assert!(!page.contains("として記録しました"), "{}", db.name);
        assert_eq!(
            s.store
                .flagged_doses(s.machida, sesshu_store::ReviewState::Done)
                .await
                .unwrap()
                .len(),
            0,
            "{}: nothing recorded by the refused attempts",
            db.name
        );

        let (status, _, done) = send(
            &s.app,
            "POST",
            &format!("/doses/flagged/{bcg}"),
            Some(&cookie),
            Some(&form),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(
            done.contains("医療機関に確認済み") && done.contains("として記録しました"),
            "{}",
            db.name
        );
        assert!(
            done.contains("該当 1件"),
            "{}: it left the open list",
            db.name
        );
        let (_, _, closed) = send(
            &s.app,
            "GET",
            "/doses/flagged?state=done",
            Some(&cookie),
            None,
        )
        .await;
        assert!(
            closed.contains("あおば小児科に電話で確認") && closed.contains("clerk"),
            "{}",
            db.name
        );
        let entries = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    function: Some("dose.review".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let ok: Vec<_> = entries.iter().filter(|e| e.outcome == "ok").collect();
        assert_eq!(ok.len(), 1, "{}", db.name);
        assert!(ok[0].persons_acted.contains(a), "{}", db.name);
        for f in ["dose.review", "dose.flagged"] {
            assert_ne!(
                sesshu_app::audit::function_label(f),
                f,
                "the auditor reads {f} in Japanese"
            );
        }
        let (status, _, _) = send(
            &s.app,
            "POST",
            &format!("/doses/flagged/{bcg}"),
            Some(&cookie),
            Some(&format!("csrf={csrf}&action=deleted")),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}: an unknown action",
            db.name
        );
    }
}

/// Accounts need a name; logins are picked from the accounts there are; disabling an account
/// or revoking a grant first says what it will do, naming the account, and changes nothing until
/// confirmed.
#[tokio::test]
async fn account_changes_name_the_account_and_wait_for_confirmation() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        common::account(&s.store, s.machida, "kanri", "role:administrator", None).await;
        let (admin, csrf) = session(&s.store, s.machida, "kanri").await;
        let (_, _, page) = send(&s.app, "GET", "/admin/users", Some(&admin), None).await;
        for picker in ["grant-login", "op-login"] {
            assert!(
                page.contains(&format!("<select id=\"{picker}\" name=\"login\""))
                    && page.contains("<option value=\"viewer\">viewer — viewer"),
                "{}: {picker}",
                db.name
            );
        }

        let nameless = format!("csrf={csrf}&action=add&login=suzuki&display_name=");
        let (status, _, page) = send(
            &s.app,
            "POST",
            "/admin/users",
            Some(&admin),
            Some(&nameless),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", db.name);
        assert!(page.contains("氏名を入れてください"), "{}", db.name);
        assert!(
            s.store
                .account(s.machida, "suzuki")
                .await
                .unwrap()
                .is_none(),
            "{}",
            db.name
        );

        let disable = format!("csrf={csrf}&action=disable&login=viewer&last_day=");
        let (status, _, page) =
            send(&s.app, "POST", "/admin/users", Some(&admin), Some(&disable)).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(
            page.contains("id=\"confirm-panel\"")
                && page.contains("viewer (viewer) を今すぐ利用停止します"),
            "{}: {page}",
            db.name
        );
        let viewer = s.store.account(s.machida, "viewer").await.unwrap().unwrap();
        assert!(
            !viewer.disabled,
            "{}: disabled before confirmation",
            db.name
        );
        let (_, _, page) = send(
            &s.app,
            "POST",
            "/admin/users",
            Some(&admin),
            Some(&format!("{disable}&confirm=1")),
        )
        .await;
        assert!(page.contains("id=\"notice\""), "{}: {page}", db.name);
        let viewer = s.store.account(s.machida, "viewer").await.unwrap().unwrap();
        assert!(viewer.disabled, "{}", db.name);

        let revoke = format!("csrf={csrf}&action=revoke&login=clerk&grant=role%3Aclerk");
        let (_, _, page) = send(&s.app, "POST", "/admin/users", Some(&admin), Some(&revoke)).await;
        assert!(
            page.contains("clerk (clerk) から「予防接種事務担当」を取り消します"),
            "{}",
            db.name
        );
        let on = sesshu_web::today_in_japan();
        assert!(
            !s.store
                .permissions(s.machida, "clerk", on)
                .await
                .unwrap()
                .is_empty(),
            "{}: revoked before confirmation",
            db.name
        );
        let (_, _, page) = send(
            &s.app,
            "POST",
            "/admin/users",
            Some(&admin),
            Some(&format!("{revoke}&confirm=1")),
        )
        .await;
        assert!(page.contains("取り消しました"), "{}", db.name);
        assert!(
            s.store
                .permissions(s.machida, "clerk", on)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            db.name
        );
    }
}

/// The login form's token is the deployment's signature of its cookie: a cookie and field pair
/// made up by the caller (equal or not) is refused, as is a signed pair older than an hour; the
/// pair the login page issued logs in.
#[tokio::test]
async fn a_login_form_token_cannot_be_chosen_by_the_caller() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        common::account(
            &s.store,
            s.machida,
            "hanako",
            "role:viewer",
            Some("Sakura-2026x"),
        )
        .await;
        let post = |cookie: String, pre: String| {
            let app = s.app.clone();
            async move {
                let form = format!(
                    "pre={}&municipality=132098&login=hanako&password=Sakura-2026x",
                    enc(&pre)
                );
                let r = Request::builder()
                    .method("POST")
                    .uri("/login")
                    .header(header::COOKIE, format!("sesshu_pre={cookie}"))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form))
                    .unwrap();
                let response = app.oneshot(r).await.unwrap();
                let started = response
                    .headers()
                    .get_all(header::SET_COOKIE)
                    .iter()
                    .any(|c| c.to_str().unwrap().starts_with("sesshu_session="));
                (response.status(), started)
            }
        };
        for (cookie, pre) in [
            ("x".to_owned(), "x".to_owned()),
            (
                format!("{}.00", chrono::Utc::now().timestamp()),
                "v1:00".to_owned(),
            ),
            (String::new(), String::new()),
        ] {
            let (status, started) = post(cookie.clone(), pre).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}: {cookie}", db.name);
            assert!(!started, "{}", db.name);
        }

        let page = s
            .app
            .clone()
            .oneshot(
                Request::builder()
                    .uri("/login")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let cookie = page
            .headers()
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("sesshu_pre=")
            .to_owned();
        let html =
            String::from_utf8(to_bytes(page.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
        let pre = html
            .split("name=\"pre\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let (_, nonce) = cookie.split_once('.').unwrap();
        let (status, _) = post(format!("1.{nonce}"), pre.clone()).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{}: another time, same token",
            db.name
        );
        let (status, started) = post(cookie, pre).await;
        assert!(started, "{}: the issued pair logs in ({status})", db.name);
    }
}

/// A staff form sent without the session's token is refused and recorded with what it asked for.
#[tokio::test]
async fn a_forged_staff_form_is_refused_and_recorded() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        common::account(&s.store, s.machida, "kanri", "role:administrator", None).await;
        let (admin, _) = session(&s.store, s.machida, "kanri").await;
        let forged = "csrf=guess&action=grant&login=clerk&grant=mynumber.use";
        let (status, _, _) = send(&s.app, "POST", "/admin/users", Some(&admin), Some(forged)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.name);
        let entries = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    function: Some("page.form".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(entries.len(), 1, "{}", db.name);
        assert_eq!(entries[0].actor, "user:kanri");
        assert_eq!(entries[0].outcome, "refused");
        assert!(
            entries[0].detail.contains("POST /admin/users"),
            "{}",
            entries[0].detail
        );
        assert!(
            s.store.grants(s.machida, "clerk").await.unwrap().len() == 1,
            "{}",
            db.name
        );
    }
}

/// A grant of My Number use asked for on the page waits, listed with who asked, until a second
/// administrator approves it there; the one who asked cannot.
#[tokio::test]
async fn a_my_number_grant_waits_on_the_page_for_a_second_administrator() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        common::account(&s.store, s.machida, "kanri", "role:administrator", None).await;
        common::account(&s.store, s.machida, "kanri2", "role:administrator", None).await;
        let (admin, csrf) = session(&s.store, s.machida, "kanri").await;
        let (second, second_csrf) = session(&s.store, s.machida, "kanri2").await;
        let on = sesshu_web::today_in_japan();
        let holds = || async {
            s.store
                .permissions(s.machida, "clerk", on)
                .await
                .unwrap()
                .contains(&sesshu_domain::access::Permission::MyNumberUse)
        };
        let ask = format!("csrf={csrf}&action=grant&login=clerk&grant=mynumber.use");
        let (status, _, page) =
            send(&s.app, "POST", "/admin/users", Some(&admin), Some(&ask)).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(
            page.contains("別の管理者が承認すると有効になります"),
            "{}: {page}",
            db.name
        );
        assert!(
            page.contains("id=\"pending\"") && page.contains("user:kanri"),
            "{}: listed with who asked",
            db.name
        );
        assert!(!holds().await, "{}: not in force yet", db.name);

        let approve =
            |csrf: &str| format!("csrf={csrf}&action=approve&login=clerk&grant=mynumber.use");
        let (status, _, page) = send(
            &s.app,
            "POST",
            "/admin/users",
            Some(&admin),
            Some(&approve(&csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", db.name);
        assert!(
            page.contains("自分が付与したものは承認できません"),
            "{}",
            db.name
        );
        assert!(!holds().await, "{}", db.name);

        let (status, _, page) = send(
            &s.app,
            "POST",
            "/admin/users",
            Some(&second),
            Some(&approve(&second_csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert!(page.contains("の付与を承認しました"), "{}: {page}", db.name);
        assert!(!page.contains("id=\"pending\""), "{}", db.name);
        assert!(holds().await, "{}: in force once approved", db.name);
    }
}

/// A My Number typed where a 宛名番号 or a household belongs, or put in an API path, goes into no
/// URL, no page, no answer and no audit entry: the search says what happened next to the field
/// and clears it; the API answers not found without repeating it.
#[tokio::test]
async fn a_my_number_in_the_wrong_box_is_kept_out_of_urls_pages_and_the_log() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let n = s
            .people
            .iter()
            .find_map(|p| p.my_number.as_ref())
            .map(|n| String::from_utf8_lossy(&n.expose()).into_owned())
            .unwrap();
        let (status, location, body) = send(
            &s.app,
            "POST",
            "/search",
            Some(&cookie),
            Some(&format!("csrf={csrf}&address_number={n}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: not redirected", db.name);
        assert_eq!(location, None);
        assert!(body.contains("個人番号のようです"), "{}", db.name);
        assert!(!body.contains(&n), "{}: not shown again", db.name);
        // As a household criterion it is searched for, and recorded without the number.
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/search",
            Some(&cookie),
            Some(&format!("csrf={csrf}&household={n}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, body) = send(
            &s.app,
            "GET",
            &format!("/api/v1/municipalities/132098/persons/{n}"),
            Some(&cookie),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name);
        assert!(!body.contains(&n), "{}: {body}", db.name);
        let log = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    limit: 10_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(log.iter().any(|e| e.function == "person.search"));
        assert!(
            log.iter()
                .any(|e| e.function == "person.read" && e.detail.contains("個人番号の可能性")),
            "{}: the refused read is recorded, the number hidden",
            db.name
        );
        for e in &log {
            let text = format!("{e:?}");
            assert!(!text.contains(&n), "{}: {text}", db.name);
        }
    }
}

/// 医療機関向け接種前確認 from the attacker's side and the clinic's: the clinic's account signs in
/// only with a second factor, lands on its one page, sees a person's name and what is due but no
/// address or household, and is refused everything else; staff without the permission, forged
/// forms and other municipalities are refused; a clinic's system gets the same answer as JSON.
#[tokio::test]
async fn a_clinic_checks_before_the_dose_and_sees_nothing_else() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let name = db.name;
        common::account(
            &s.store,
            s.machida,
            "clinic",
            "role:clinic",
            Some("kanagawa77"),
        )
        .await;
        s.store
            .set_institution(s.machida, "clinic", Some("1312345678"))
            .await
            .unwrap();

        // A password alone does not let a clinic in.
        let login = serde_json::json!({"municipality": "132098", "login": "clinic", "password": "kanagawa77"});
        let response = s
            .app
            .clone()
            .oneshot(
                Request::post("/api/v1/login")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(login.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}");
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert!(
            String::from_utf8_lossy(&body).contains("second_factor_required"),
            "{name}"
        );

        let p = s
            .people
            .iter()
            .find(|p| p.status == sesshu_domain::ResidentStatus::Resident && p.address.is_some())
            .unwrap();
        let a = p.address_number.as_str();
        let (cookie, csrf) = session(&s.store, s.machida, "clinic").await;
        let (status, location, _) = send(&s.app, "GET", "/", Some(&cookie), None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(location.as_deref(), Some("/clinic"), "{name}");
        let (status, _, html) = send(&s.app, "GET", "/clinic", Some(&cookie), None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(html.contains("接種券の番号"), "{name}");
        assert!(!html.contains("href=\"/search\""), "{name}: no staff menu");
        for uri in [
            format!("/persons/{a}"),
            "/search".into(),
            "/doses/flagged".into(),
        ] {
            let (status, _, _) = send(&s.app, "GET", &uri, Some(&cookie), None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {uri}");
        }

        let form = |csrf: &str, birth: &str| {
            format!(
                "csrf={csrf}&address_number={a}&birth_date={}&product=dpt_ipv_hib",
                enc(birth)
            )
        };
        let birth = p.birth_date.to_string();
        let (status, _, html) = send(
            &s.app,
            "POST",
            "/clinic",
            Some(&cookie),
            Some(&form(&csrf, &birth)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: {html}");
        let text = visible_text(&html);
        assert!(text.contains(&p.name.to_string()), "{name}");
        assert!(
            text.contains("id=\"verdict\"") || html.contains("id=\"verdict\""),
            "{name}"
        );
        assert!(text.contains("定期接種"), "{name}");
        for hidden in [p.address.clone(), p.address_detail.clone(), p.phone.clone()]
            .into_iter()
            .flatten()
        {
            assert!(!text.contains(&hidden), "{name}: the page shows {hidden}");
        }
        // A wrong birth date: no person, the same words as an unknown number.
        let (status, _, html) = send(
            &s.app,
            "POST",
            "/clinic",
            Some(&cookie),
            Some(&form(&csrf, "1900-01-01")),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        assert!(!html.contains(&p.name.to_string()), "{name}");
        assert!(html.contains("id=\"clinic-error\""), "{name}");
        // A date that is no date is shown next to its field.
        let (status, _, html) = send(
            &s.app,
            "POST",
            "/clinic",
            Some(&cookie),
            Some(&form(&csrf, "abc")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(html.contains("id=\"err-birth_date\""), "{name}");
        // A forged form and a clerk: refused.
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/clinic",
            Some(&cookie),
            Some(&form("forged", &birth)),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (clerk, clerk_csrf) = session(&s.store, s.machida, "clerk").await;
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/clinic",
            Some(&clerk),
            Some(&form(&clerk_csrf, &birth)),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{name}: a clerk is not a clinic"
        );

        // The JSON API, with the clinic's session; another municipality is not there.
        let api = |code: &str| {
            Request::post(format!("/api/v1/municipalities/{code}/clinic-checks"))
                .header(header::COOKIE, format!("sesshu_session={cookie}"))
                .header("x-csrf-token", &csrf)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    serde_json::json!({"address_number": a, "birth_date": birth, "product": "mr"})
                        .to_string(),
                ))
                .unwrap()
        };
        let response = s.app.clone().oneshot(api("132098")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["name"], p.name.to_string(), "{name}");
        assert_eq!(v["institution"], "1312345678", "{name}");
        assert!(
            v["product"]["line"]
                .as_str()
                .unwrap()
                .starts_with("定期接種"),
            "{name}"
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        for k in [
            "address",
            "address_number",
            "household_number",
            "my_number",
            "doses",
        ] {
            assert!(
                !keys.iter().any(|x| x.as_str() == k),
                "{name}: {k} in {keys:?}"
            );
        }
        let response = s.app.clone().oneshot(api("011002")).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name}");

        let checks = s
            .store
            .audit_entries(
                Some(s.machida),
                &sesshu_store::AuditQuery {
                    function: Some("clinic.check".into()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            checks.iter().filter(|e| e.outcome == "ok").count(),
            2,
            "{name}: the page's and the API's"
        );
        assert!(
            checks
                .iter()
                .any(|e| e.actor == "user:clerk" && e.outcome == "refused")
        );
    }
}

/// Reminder mails on the pages: the counter opts a guardian in and out on the person's page
/// (notice.run, with its form's token), and the mail's link stops them without a login — a GET
/// only asks (a mail scanner following the link stops nothing), the button does it.
#[tokio::test]
async fn reminder_mails_are_opted_in_at_the_counter_and_stopped_by_the_link_without_login() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let name = db.name;
        let p = s
            .people
            .iter()
            .find(|p| p.status == sesshu_domain::ResidentStatus::Resident)
            .unwrap();
        let a = p.address_number.as_str();
        let uri = format!("/persons/{a}/reminders");
        let form = |csrf: &str| {
            format!(
                "csrf={csrf}&action=start&email=yamada%40example.jp&channel={}",
                enc("窓口")
            )
        };
        let (viewer, viewer_csrf) = session(&s.store, s.machida, "viewer").await;
        let (status, _, _) = send(
            &s.app,
            "POST",
            &uri,
            Some(&viewer),
            Some(&form(&viewer_csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: a viewer");
        let (clerk, csrf) = session(&s.store, s.machida, "clerk").await;
        let (status, _, _) = send(&s.app, "POST", &uri, Some(&clerk), Some(&form("forged"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: a forged form");
        assert!(
            s.store
                .subscriptions_of(s.machida, a)
                .await
                .unwrap()
                .is_empty()
        );
        let bad = format!(
            "csrf={csrf}&action=start&email=yamada&channel={}",
            enc("窓口")
        );
        let (status, _, html) = send(&s.app, "POST", &uri, Some(&clerk), Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: a bad address");
        assert!(
            html.contains("メールアドレスの形式ではありません"),
            "{name}: said on the person's page"
        );
        assert!(html.contains(&p.name.to_string()), "{name}");
        assert!(
            s.store
                .subscriptions_of(s.machida, a)
                .await
                .unwrap()
                .is_empty()
        );
        let (status, location, _) =
            send(&s.app, "POST", &uri, Some(&clerk), Some(&form(&csrf))).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(location.unwrap(), format!("/persons/{a}#reminders"));
        let (_, _, html) = send(&s.app, "GET", &format!("/persons/{a}"), Some(&clerk), None).await;
        assert!(
            html.contains("yamada@example.jp") && html.contains("配信中"),
            "{name}"
        );

        let sub = s
            .store
            .subscriptions_of(s.machida, a)
            .await
            .unwrap()
            .remove(0);
        let token = s
            .ops
            .unsubscribe_token(s.machida, &sub.subscription_id)
            .unwrap();
        let link = format!("/unsubscribe/{token}");
        let (status, _, html) = send(&s.app, "GET", &link, None, None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            html.contains("ya****@example.jp") && html.contains("id=\"stop\""),
            "{name}"
        );
        assert!(
            s.store.subscriptions_of(s.machida, a).await.unwrap()[0].active(),
            "{name}: a GET stops nothing"
        );
        let (status, _, _) = send(
            &s.app,
            "GET",
            &format!("/unsubscribe/{}x", &token[..token.len() - 1]),
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: a forged link");
        let (status, _, html) = send(
            &s.app,
            "POST",
            &link,
            None,
            Some("List-Unsubscribe=One-Click"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(html.contains("id=\"stopped\""), "{name}");
        let now = s
            .store
            .subscriptions_of(s.machida, a)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(now.opted_out_channel.as_deref(), Some("リンク"), "{name}");
    }
}

#[tokio::test]
async fn the_payments_pages_prepare_approve_and_hand_out_the_banks_file() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let name = db.name;
        let t = s.machida;
        for login in ["payer1", "payer2"] {
            common::account(&s.store, t, login, "role:payments", None).await;
        }
        let sapporo = MunicipalityCode::parse("011002").unwrap();
        common::account(&s.store, sapporo, "payer9", "role:payments", None).await;

        // A deferral at the screening, billed for November, paid at the 予診のみ price.
        let ops = sesshu_app::Actor::operator(Some(t));
        let p = s
            .people
            .iter()
            .find(|p| p.status == sesshu_domain::ResidentStatus::Resident)
            .unwrap();
        let mut dose = sesshu_domain::dose::Dose::given("mr", 1, sesshu_web::today_in_japan());
        dose.judgement = sesshu_domain::dose::DoseJudgement::Deferred;
        dose.institution_code = Some("1310000001".into());
        dose.billing_month = Some(sesshu_domain::dose::BillingMonth::parse("202611").unwrap());
        s.ops
            .add_dose(
                &ops,
                t,
                p.address_number.as_str(),
                sesshu_app::doses::DoseChange {
                    dose,
                    confirmed: true,
                },
            )
            .await
            .unwrap();
        let csv = |s: &str| std::io::Cursor::new(s.as_bytes().to_vec());
        s.ops
            .import_prices(
                &ops,
                t,
                csv("ワクチン,回数,適用開始日,適用終了日,単価\nmr,予診のみ,2015-04-01,,3300\n"),
            )
            .await
            .unwrap();
        s.ops.import_payment_institutions(&ops, t, csv("医療機関コード,医療機関名,受取人名カナ,金融機関コード,金融機関名カナ,支店コード,支店名カナ,預金種目,口座番号\n1310000001,山田小児科,ヤマダショウニカ,0001,ミズホ,123,ホンテン,普通,1234567\n")).await.unwrap();
        let account = sesshu_formats::zengin::Account::new(
            "0009",
            "ミツイスミトモ",
            "001",
            "マチダ",
            "1",
            "1112223",
        )
        .unwrap();
        s.ops
            .set_payment_requester(&ops, t, "9876543210", "マチダシ", &account)
            .await
            .unwrap();

        // A clerk has no payments menu and is refused every payments page.
        let (clerk, clerk_csrf) = session(&s.store, t, "clerk").await;
        let (status, _, _) = send(&s.app, "GET", "/payments", Some(&clerk), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (payer1, csrf1) = session(&s.store, t, "payer1").await;
        let (status, location, _) = send(&s.app, "GET", "/", Some(&payer1), None).await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/payments"))
        );
        let (status, _, html) = send(&s.app, "GET", "/payments", Some(&payer1), None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            html.contains("href=\"/payments\"") && html.contains("ﾔﾏﾀﾞｼﾖｳﾆｶ"),
            "{name}"
        );

        // A wrong month is shown beside its field, and nothing is prepared.
        // A weekday: banks transfer on business days.
        let mut transfer = sesshu_web::today_in_japan() + chrono::Days::new(14);
        while chrono::Datelike::weekday(&transfer).number_from_monday() > 5 {
            transfer = transfer + chrono::Days::new(1);
        }
        let transfer = transfer.to_string();
        let bad = format!("csrf={csrf1}&billing_month=2026-13&transfer_date={transfer}");
        let (status, _, html) = send(&s.app, "POST", "/payments", Some(&payer1), Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(html.contains("id=\"err-billing_month\""), "{name}");
        assert!(s.store.payment_runs(t).await.unwrap().is_empty(), "{name}");

        let good = format!("csrf={csrf1}&billing_month=202611&transfer_date={transfer}");
        let (status, _, html) = send(&s.app, "POST", "/payments", Some(&payer1), Some(&good)).await;
        assert_eq!(status, StatusCode::OK, "{name}: {html}");
        assert!(html.contains("id=\"total\">3,300 円"), "{name}");
        let run = s.store.payment_runs(t).await.unwrap().remove(0);
        let page = format!("/payments/{}", run.run_id);

        // Not by its preparer, not by a forged form, not by a clerk, not from Sapporo.
        let approve = format!("{page}/approve");
        let (status, _, html) = send(
            &s.app,
            "POST",
            &approve,
            Some(&payer1),
            Some(&format!("csrf={csrf1}")),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{name}");
        assert!(html.contains("別の職員"), "{name}");
        let (payer2, csrf2) = session(&s.store, t, "payer2").await;
        let (status, _, _) =
            send(&s.app, "POST", &approve, Some(&payer2), Some("csrf=forged")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (status, _, _) = send(
            &s.app,
            "POST",
            &approve,
            Some(&clerk),
            Some(&format!("csrf={clerk_csrf}")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (payer9, _) = session(&s.store, sapporo, "payer9").await;
        let (status, _, _) = send(&s.app, "GET", &page, Some(&payer9), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        assert_eq!(
            s.store
                .payment_run(t, &run.run_id)
                .await
                .unwrap()
                .unwrap()
                .status,
            sesshu_store::PaymentStatus::AwaitingApproval
        );

        let (status, _, html) = send(
            &s.app,
            "POST",
            &approve,
            Some(&payer2),
            Some(&format!("csrf={csrf2}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            html.contains("承認しました") && html.contains("id=\"transfer\""),
            "{name}"
        );

        // The bank's file, as bytes (Shift_JIS half-width kana), named after the run.
        let response = s
            .app
            .clone()
            .oneshot(
                Request::post(format!("{page}/transfer"))
                    .header(header::COOKIE, format!("sesshu_session={payer2}"))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!("csrf={csrf2}")))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let disposition = response.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            disposition.contains(&format!("zengin-{}.txt", run.run_id)),
            "{disposition}"
        );
        let file = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let records = sesshu_formats::zengin::read_file(&file).unwrap();
        assert_eq!(records[1].get("受取人名"), Some("ﾔﾏﾀﾞｼﾖｳﾆｶ"), "{name}");
        assert_eq!(records[2].get("合計金額"), Some("3300"), "{name}");
        let (_, _, csv) = send(
            &s.app,
            "GET",
            &format!("{page}/statement.csv"),
            Some(&payer1),
            None,
        )
        .await;
        assert!(
            csv.contains("\"予診のみ\",\"3300\",\"1\",\"3300\""),
            "{name}: {csv}"
        );
        let (_, _, html) = send(&s.app, "GET", &page, Some(&payer1), None).await;
        assert!(
            html.contains("振込データ作成済み") && !html.contains("id=\"cancel\""),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_extraction_page_builds_conditions_and_hands_over_a_csv_without_my_numbers() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let name = db.name;
        let t = s.machida;
        common::account(&s.store, t, "exporter", "role:exporter", None).await;
        let ops = sesshu_app::Actor::operator(Some(t));
        for p in s
            .people
            .iter()
            .filter(|p| p.status == sesshu_domain::ResidentStatus::Resident)
            .take(3)
        {
            let mut dose = sesshu_domain::dose::Dose::given("bcg", 1, sesshu_web::today_in_japan());
            dose.lot = Some("+SUM(1)".into());
            s.ops
                .add_dose(
                    &ops,
                    t,
                    p.address_number.as_str(),
                    sesshu_app::doses::DoseChange {
                        dose,
                        confirmed: true,
                    },
                )
                .await
                .unwrap();
        }

        let (clerk, clerk_csrf) = session(&s.store, t, "clerk").await;
        let (status, _, _) = send(&s.app, "GET", "/extract", Some(&clerk), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (exporter, csrf) = session(&s.store, t, "exporter").await;
        let (status, location, _) = send(&s.app, "GET", "/", Some(&exporter), None).await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/extract"))
        );
        let (status, _, html) = send(&s.app, "GET", "/extract", Some(&exporter), None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(html.contains("value=\"address_number\" checked"), "{name}");
        assert!(
            !html.contains("my_number") && !html.contains("value=\"個人番号\""),
            "{name}"
        );

        // A wrong condition is shown beside its field, with what was typed kept.
        let bad = format!("csrf={csrf}&product=bcg&age_from=5&age_to=2&column=name");
        let (status, _, html) = send(&s.app, "POST", "/extract", Some(&exporter), Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(html.contains("id=\"err-age_to\""), "{name}");
        assert!(html.contains("value=\"bcg\" checked"), "{name}");

        // Refused without the permission and for a forged form.
        let body = |csrf: &str| {
            format!(
                "csrf={csrf}&product=bcg&column=address_number&column=name&column=lot&column=address"
            )
        };
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/extract",
            Some(&clerk),
            Some(&body(&clerk_csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/extract",
            Some(&exporter),
            Some(&body("forged")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");

        let (status, _, csv) = send(
            &s.app,
            "POST",
            "/extract",
            Some(&exporter),
            Some(&body(&csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let rows: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(
            rows[0], "\"宛名番号\",\"氏名\",\"住所\",\"ロット番号\"",
            "{name}"
        );
        assert_eq!(rows.len(), 4, "{name}: {csv}");
        assert!(
            rows[1..].iter().all(|r| r.ends_with("\"'+SUM(1)\"")),
            "{name}: {csv}"
        );
        assert!(!sesshu_testkit::leaks_my_number(&csv), "{name}");
        let audited = s
            .store
            .audit_entries(
                Some(t),
                &sesshu_store::AuditQuery {
                    function: Some("export.run".into()),
                    limit: 100,
                    ..sesshu_store::AuditQuery::default()
                },
            )
            .await
            .unwrap();
        assert!(
            audited.iter().any(|e| e.outcome == "ok"
                && e.actor == "user:exporter"
                && e.detail.contains("\"rows\":3")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_annual_table_is_shown_and_downloaded_by_the_office_only() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let name = db.name;
        let t = s.machida;
        common::account(&s.store, t, "kansa", "role:auditor", None).await;
        let ops = sesshu_app::Actor::operator(Some(t));
        let today = sesshu_web::today_in_japan();
        let mut given = 0;
        let mut last_fy = 0;
        for p in s
            .people
            .iter()
            .filter(|p| p.status == sesshu_domain::ResidentStatus::Resident)
        {
            // BCG in the first year: routine.
            let on = p.birth_date + chrono::Days::new(150);
            if on > today || given == 3 {
                continue;
            }
            let change = sesshu_app::doses::DoseChange {
                dose: sesshu_domain::dose::Dose::given("bcg", 1, on),
                confirmed: true,
            };
            let written = s
                .ops
                .add_dose(&ops, t, p.address_number.as_str(), change)
                .await
                .unwrap();
            if matches!(written, sesshu_app::doses::Written::Recorded { ref judged, .. } if judged.routine == Some(true))
            {
                given += 1;
                let fy = sesshu_domain::FiscalYear::of(on).0;
                last_fy = fy;
                let (clerk, _) = session(&s.store, t, "clerk").await;
                let (status, _, html) = send(
                    &s.app,
                    "GET",
                    &format!("/statistics?fiscal_year={fy}"),
                    Some(&clerk),
                    None,
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{name}");
                assert!(
                    html.contains("id=\"annual\"") && html.contains("BCG"),
                    "{name}"
                );
                let (status, _, csv) = send(
                    &s.app,
                    "GET",
                    &format!("/statistics/annual.csv?fiscal_year={fy}"),
                    Some(&clerk),
                    None,
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{name}");
                assert!(csv.contains("\"BCG\",\"bcg\""), "{name}: {csv}");
            }
        }
        assert!(given > 0, "{name}: no routine BCG in the town");
        // Coverage by birth cohort, drawn on the server; a wrong month is shown beside its field.
        let (clerk, _) = session(&s.store, t, "clerk").await;
        let (status, _, html) = send(
            &s.app,
            "GET",
            "/statistics?series=bcg&dose=1&born_from=1900-01&born_to=2099-12",
            Some(&clerk),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            html.contains("<figure id=\"coverage-chart\"><svg"),
            "{name}"
        );
        assert!(
            !html.contains("&lt;svg"),
            "{name}: the chart is markup, not text"
        );
        let response = s
            .app
            .clone()
            .oneshot(
                Request::get(
                    "/statistics/workbook.xlsx?series=bcg&dose=1&born_from=1900-01&born_to=2099-12",
                )
                .header(header::COOKIE, format!("sesshu_session={clerk}"))
                .body(Body::empty())
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let xlsx = to_bytes(response.into_body(), 1 << 22).await.unwrap();
        assert!(xlsx.starts_with(b"PK"), "{name}: an xlsx is a zip");
        let (status, _, html) = send(
            &s.app,
            "GET",
            "/statistics?series=bcg&dose=1&born_from=2025-13&born_to=2026-03",
            Some(&clerk),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(html.contains("id=\"err-born_from\""), "{name}");
        // The breakdown of the year's BCG doses by 町丁目.
        let (status, _, html) = send(
            &s.app,
            "GET",
            &format!("/statistics?series=bcg&fiscal_year={last_fy}&by=district"),
            Some(&clerk),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            html.contains("id=\"breakdown\"") && html.contains("丁目"),
            "{name}"
        );
        // The year's coverage of the target the rules define, and as CSV.
        assert!(
            html.contains("id=\"target\"") && html.contains("対象者に対する接種率"),
            "{name}"
        );
        let (status, _, csv) = send(
            &s.app,
            "GET",
            &format!("/statistics/coverage.csv?series=bcg&fiscal_year={last_fy}"),
            Some(&clerk),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            csv.contains("\"対象者数\"") && csv.contains("BCG(結核)"),
            "{name}: {csv}"
        );
        let (auditor, _) = session(&s.store, t, "kansa").await;
        for uri in [
            "/statistics",
            "/statistics/annual.csv",
            "/statistics/coverage.csv",
            "/statistics/workbook.xlsx",
        ] {
            let (status, _, _) = send(&s.app, "GET", uri, Some(&auditor), None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {uri}");
        }
    }
}

/// 実費徴収の免除 on the pages (issue 19 part 2): the officer records a decision from the form
/// (a missing document shown beside its field, nothing recorded), sees the year's register and
/// the person's decisions, revokes one with its reason and downloads the register; a clerk is
/// refused every page and Sapporo's officer finds nothing of Machida's.
#[tokio::test]
async fn the_exemption_pages_record_list_and_revoke_decisions() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let name = db.name;
        let t = s.machida;
        common::account(&s.store, t, "officer", "role:cost_collection", None).await;
        let sapporo = MunicipalityCode::parse("011002").unwrap();
        common::account(&s.store, sapporo, "officer9", "role:cost_collection", None).await;
        let person = s.people[0].address_number.as_str().to_owned();
        let fy = sesshu_domain::age::FiscalYear::of(sesshu_web::today_in_japan()).0;
        let applied = sesshu_web::today_in_japan().to_string();

        let (clerk, clerk_csrf) = session(&s.store, t, "clerk").await;
        let (status, _, _) = send(&s.app, "GET", "/exemptions", Some(&clerk), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (officer, csrf) = session(&s.store, t, "officer").await;
        let (_, _, html) = send(&s.app, "GET", "/search", Some(&officer), None).await;
        assert!(html.contains("href=\"/exemptions\""), "{name}: in the menu");
        let (_, _, html) = send(&s.app, "GET", "/search", Some(&clerk), None).await;
        assert!(
            !html.contains("href=\"/exemptions\""),
            "{name}: not a clerk's"
        );

        let form = |evidence: &str, csrf: &str| {
            format!(
                "csrf={csrf}&address_number={person}&fiscal_year={fy}&decision=exempt&ground=welfare&evidence={}&applied_on={applied}&decided_on=&valid_from=&valid_to=&notes=",
                enc(evidence)
            )
        };
        let (status, _, html) = send(
            &s.app,
            "POST",
            "/exemptions",
            Some(&officer),
            Some(&form("", &csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(html.contains("id=\"err-evidence\""), "{name}: {html}");
        assert!(
            html.contains(&format!("value=\"{person}\"")),
            "{name}: what was typed is kept"
        );
        assert!(
            s.store.exemptions_of_year(t, fy).await.unwrap().is_empty(),
            "{name}"
        );
        // A clerk's form is refused too.
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/exemptions",
            Some(&clerk),
            Some(&form("保護受給証明書", &clerk_csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");

        let (status, location, _) = send(
            &s.app,
            "POST",
            "/exemptions",
            Some(&officer),
            Some(&form("保護受給証明書", &csrf)),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        let location = location.unwrap();
        let (status, _, html) = send(&s.app, "GET", &location, Some(&officer), None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(html.contains("id=\"notice\""), "{name}");
        assert!(
            html.contains("保護受給証明書") && html.contains("生活保護受給者"),
            "{name}"
        );
        let id = s.store.exemptions_of_year(t, fy).await.unwrap()[0].exemption_id;
        let (_, _, html) = send(
            &s.app,
            "GET",
            &format!("/exemptions?person={person}"),
            Some(&officer),
            None,
        )
        .await;
        assert!(html.contains(&format!("id=\"exemption-{id}\"")), "{name}");
        let (_, _, page) = send(
            &s.app,
            "GET",
            &format!("/persons/{person}"),
            Some(&officer),
            None,
        )
        .await;
        assert!(page.contains("id=\"exemptions-link\""), "{name}");

        // Sapporo's officer revoking Machida's decision finds nothing; nothing changes.
        let (officer9, csrf9) = session(&s.store, sapporo, "officer9").await;
        let revoke = format!("/exemptions/{id}/revoke");
        let (status, _, _) = send(
            &s.app,
            "POST",
            &revoke,
            Some(&officer9),
            Some(&format!("csrf={csrf9}&reason=x")),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        assert!(
            s.store.exemption(t, id).await.unwrap().unwrap().in_force(),
            "{name}"
        );
        // Without a reason: said, and kept in force.
        let (status, _, html) = send(
            &s.app,
            "POST",
            &revoke,
            Some(&officer),
            Some(&format!("csrf={csrf}&reason=")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(html.contains("取消の理由を入力してください"), "{name}");
        let (status, _, _) = send(
            &s.app,
            "POST",
            &revoke,
            Some(&officer),
            Some(&format!("csrf={csrf}&reason={}", enc("受給廃止"))),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        let (status, _, file) = send(
            &s.app,
            "GET",
            &format!("/exemptions.csv?fiscal_year={fy}"),
            Some(&officer),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            file.starts_with('\u{feff}') && file.contains("取消 (受給廃止)"),
            "{name}: {file}"
        );
    }
}

/// 開示等の請求 on the pages (issue 19 part 3): received from the form (a missing identity
/// document beside its field), listed with its deadline, the disclosure report handed out as a
/// PDF, answered; a clerk without person.write is refused and Sapporo finds nothing.
#[tokio::test]
async fn the_requests_pages_receive_disclose_and_answer() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let name = db.name;
        let t = s.machida;
        common::account(&s.store, t, "privacy", "person.write", None).await;
        let sapporo = MunicipalityCode::parse("011002").unwrap();
        common::account(&s.store, sapporo, "privacy9", "person.write", None).await;
        let person = s.people[0].address_number.as_str().to_owned();
        let (clerk, _) = session(&s.store, t, "clerk").await;
        let (status, _, _) = send(&s.app, "GET", "/requests", Some(&clerk), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (me, csrf) = session(&s.store, t, "privacy").await;
        let form = |identity: &str| {
            format!(
                "csrf={csrf}&address_number={person}&kind=disclosure&received_on=&requester=self&identity_checked={}&details={}",
                enc(identity),
                enc("接種記録の全部")
            )
        };
        let (status, _, html) = send(&s.app, "POST", "/requests", Some(&me), Some(&form(""))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(html.contains("id=\"err-identity_checked\""), "{name}");
        assert!(s.store.subject_requests(t, true).await.unwrap().is_empty());
        let (status, location, _) = send(
            &s.app,
            "POST",
            "/requests",
            Some(&me),
            Some(&form("マイナンバーカード")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        let (_, _, html) = send(&s.app, "GET", &location.unwrap(), Some(&me), None).await;
        assert!(
            html.contains("id=\"notice\"") && html.contains("id=\"request-1\""),
            "{name}"
        );
        assert!(html.contains("id=\"disclose-1\""), "{name}");

        let r = Request::builder()
            .method("POST")
            .uri("/requests/1/disclosure")
            .header(header::COOKIE, format!("sesshu_session={me}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap();
        let response = s.app.clone().oneshot(r).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/pdf",
            "{name}"
        );
        let pdf = to_bytes(response.into_body(), 1 << 24).await.unwrap();
        assert!(pdf.starts_with(b"%PDF"), "{name}");
        let (privacy9, csrf9) = session(&s.store, sapporo, "privacy9").await;
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/requests/1/disclosure",
            Some(&privacy9),
            Some(&format!("csrf={csrf9}")),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");

        let answer = format!(
            "csrf={csrf}&outcome=full&answer={}&answered_on=",
            enc("写しを交付")
        );
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/requests/1/answer",
            Some(&me),
            Some(&answer),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        let (_, _, html) = send(&s.app, "GET", "/requests?all=1", Some(&me), None).await;
        assert!(
            html.contains("全部開示") && html.contains("写しを交付"),
            "{name}"
        );
        let (status, _, html) = send(
            &s.app,
            "POST",
            "/requests/1/answer",
            Some(&me),
            Some(&answer),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(html.contains("既に完了"), "{name}");
    }
}

/// The likely-duplicates page: reached from the search page by whoever reads persons, refused
/// to an account without person.read.
#[tokio::test]
async fn the_duplicates_page_lists_groups_for_those_who_read_persons() {
    for db in sesshu_testkit::backends().await {
        let s = site(&db.url).await;
        let name = db.name;
        let t = s.machida;
        let (clerk, _) = session(&s.store, t, "clerk").await;
        let (_, _, search) = send(&s.app, "GET", "/search", Some(&clerk), None).await;
        assert!(search.contains("id=\"duplicates-link\""), "{name}");
        let (status, _, html) =
            send(&s.app, "GET", "/persons/duplicates", Some(&clerk), None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(html.contains("id=\"group-count\""), "{name}");
        common::account(&s.store, t, "payer", "role:payments", None).await;
        let (payer, _) = session(&s.store, t, "payer").await;
        let (status, _, _) = send(&s.app, "GET", "/persons/duplicates", Some(&payer), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
    }
}

/// 記録の統合 from the person page (issue 19 part 4): a clerk with person.write links another
/// record into this one and undoes it; bad input is shown next to its field; a clerk without the
/// permission and another municipality are refused.
#[tokio::test]
async fn a_record_is_linked_and_unlinked_from_the_person_page_by_person_write_only() {
    for db in sesshu_testkit::backends().await {
        let name = db.name;
        let s = site(&db.url).await;
        let primary = s.people[1].address_number.as_str().to_owned();
        let secondary = s.people[3].address_number.as_str().to_owned();
        let given = sesshu_testkit::day("2024-06-03");
        s.store
            .record_dose(
                s.machida,
                &secondary,
                sesshu_domain::Dose::given("hib", 1, given),
                None,
                Default::default(),
                "t",
            )
            .await
            .unwrap();
        // A certificate issued to the secondary record before anyone saw they were one.
        s.store
            .record_certificate(
                s.machida,
                &sesshu_store::CertificateRecord {
                    certificate_id: "C-000777".into(),
                    address_number: secondary.clone(),
                    travel: false,
                    issued_on: "2024-07-01".into(),
                    issued_by: "t".into(),
                    issued_at: "2024-07-01T00:00:00Z".into(),
                    token: "t".into(),
                    key_id: "k".into(),
                    pdf_sha256: "00".into(),
                    reissue_of: None,
                    revoked_at: None,
                    revoked_reason: None,
                },
            )
            .await
            .unwrap();
        let url = format!("/persons/{primary}/links");
        let form = |csrf: &str, secondary: &str, reason: &str| {
            format!(
                "csrf={csrf}&secondary={}&reason={}",
                enc(secondary),
                enc(reason)
            )
        };

        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let (_, _, body) = send(
            &s.app,
            "GET",
            &format!("/persons/{primary}"),
            Some(&cookie),
            None,
        )
        .await;
        assert!(!body.contains("id=\"link-form\""), "{name}");
        let body_ok = form(&csrf, &secondary, "同一人物");
        let (status, _, _) = send(&s.app, "POST", &url, Some(&cookie), Some(&body_ok)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");

        let sapporo = MunicipalityCode::parse("011002").unwrap();
        grant(&s.store, sapporo, "other", "person.write").await;
        let (other, other_csrf) = session(&s.store, sapporo, "other").await;
        // Sapporo's clerk acts on Sapporo's register only (where these numbers name nobody, or
        // someone else): Machida's records stay apart.
        send(
            &s.app,
            "POST",
            &url,
            Some(&other),
            Some(&form(&other_csrf, &secondary, "同一人物")),
        )
        .await;
        assert!(
            s.store.person_links(s.machida).await.unwrap().is_empty(),
            "{name}: Sapporo linked Machida's records"
        );

        common::account(&s.store, s.machida, "kakari", "role:clerk", None).await;
        grant(&s.store, s.machida, "kakari", "person.write").await;
        let (cookie, csrf) = session(&s.store, s.machida, "kakari").await;
        let (_, _, body) = send(
            &s.app,
            "POST",
            &url,
            Some(&cookie),
            Some(&form(&csrf, "99x", "同一人物")),
        )
        .await;
        assert!(
            body.contains("id=\"link-secondary-error\""),
            "{name}: {body}"
        );
        let (_, _, body) = send(
            &s.app,
            "POST",
            &url,
            Some(&cookie),
            Some(&form(&csrf, &secondary, " ")),
        )
        .await;
        assert!(body.contains("id=\"link-reason-error\""), "{name}");
        assert!(s.store.person_links(s.machida).await.unwrap().is_empty());

        let (status, _, body) = send(
            &s.app,
            "POST",
            &url,
            Some(&cookie),
            Some(&form(&csrf, &secondary, "住登外の記録と同一人物")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            body.contains(&format!("宛名番号 {secondary} をこの記録に統合しました")),
            "{name}: {body}"
        );
        assert_eq!(
            s.store.doses_of(s.machida, &primary).await.unwrap().len(),
            1
        );
        let (_, _, body) = send(
            &s.app,
            "GET",
            &format!("/persons/{primary}"),
            Some(&cookie),
            None,
        )
        .await;
        assert!(
            body.contains("C-000777") && body.contains(&format!("統合した記録 {secondary} 宛て")),
            "{name}: what was issued to the linked record follows it"
        );
        let (_, _, body) = send(
            &s.app,
            "GET",
            &format!("/persons/{secondary}"),
            Some(&cookie),
            None,
        )
        .await;
        assert!(body.contains("id=\"linked-into\""), "{name}");
        // The same pair again is refused next to the field.
        let (_, _, body) = send(
            &s.app,
            "POST",
            &url,
            Some(&cookie),
            Some(&form(&csrf, &secondary, "二度目")),
        )
        .await;
        assert!(
            body.contains("id=\"link-secondary-error\"") && body.contains("既に統合されています"),
            "{name}"
        );

        let link = s.store.person_links(s.machida).await.unwrap().remove(0);
        let undo = format!("/persons/{primary}/links/{}/undo", link.link_id);
        let (_, _, body) = send(
            &s.app,
            "POST",
            &undo,
            Some(&cookie),
            Some(&format!("csrf={csrf}&reason=")),
        )
        .await;
        assert!(
            body.contains(&format!("id=\"unlink-error-{}\"", link.link_id)),
            "{name}"
        );
        let (_, _, body) = send(
            &s.app,
            "POST",
            &undo,
            Some(&cookie),
            Some(&format!("csrf={csrf}&reason={}", enc("別人と判明"))),
        )
        .await;
        assert!(body.contains("を解除しました"), "{name}: {body}");
        assert!(
            s.store
                .doses_of(s.machida, &primary)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.store.doses_of(s.machida, &secondary).await.unwrap().len(),
            1
        );
    }
}

/// 健康被害救済 from the pages (issue 19 part 1): an officer with relief.case receives an
/// application (bad fields shown beside them), records the steps offered (a 進達 with a document
/// missing is refused beside the step), and downloads a letter; a clerk without the permission
/// and another municipality are refused.
#[tokio::test]
async fn a_relief_case_is_received_advanced_and_its_letter_printed_by_relief_case_only() {
    for db in sesshu_testkit::backends().await {
        let name = db.name;
        let s = site(&db.url).await;
        let a = s.people[1].address_number.as_str().to_owned();
        let onset = (sesshu_app::today_in_japan() - chrono::Days::new(20)).to_string();
        let application = |csrf: &str, docs: &str| {
            format!(
                "csrf={csrf}&address_number={a}&dose_id=&regime=statutory_a&benefit=medical&harm={}&onset_on={onset}&applicant_relation=self&applicant_name={}&received_on=&pay_to=public_account&account_note=&note={docs}",
                enc("接種部位の蜂巣炎で通院"),
                enc("見本 太郎")
            )
        };

        let (cookie, csrf) = session(&s.store, s.machida, "clerk").await;
        let (_, _, body) = send(&s.app, "GET", "/", Some(&cookie), None).await;
        assert!(!body.contains("href=\"/relief\""), "{name}");
        let (status, _, _) = send(&s.app, "GET", "/relief", Some(&cookie), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (status, _, _) = send(
            &s.app,
            "POST",
            "/relief",
            Some(&cookie),
            Some(&application(&csrf, "&doc_claim=1")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");

        common::account(&s.store, s.machida, "kyusai", "role:relief", None).await;
        let (cookie, csrf) = session(&s.store, s.machida, "kyusai").await;
        // Without the claim form, nothing is received; the error sits by the documents.
        let (status, _, body) = send(
            &s.app,
            "POST",
            "/relief",
            Some(&cookie),
            Some(&application(&csrf, "&doc_vaccination_proof=1")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(body.contains("id=\"err-documents\""), "{name}: {body}");
        assert!(s.store.relief_cases(s.machida).await.unwrap().is_empty());

        let (status, location, _) = send(
            &s.app,
            "POST",
            "/relief",
            Some(&cookie),
            Some(&application(
                &csrf,
                "&doc_claim=1&doc_vaccination_proof=1&doc_medical_records=1",
            )),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        let case = s.store.relief_cases(s.machida).await.unwrap().remove(0);
        let page = format!("/relief/{}", case.case_id);
        assert_eq!(
            location.as_deref(),
            Some(format!("{page}?done=received").as_str()),
            "{name}"
        );
        let (_, _, body) = send(&s.app, "GET", &page, Some(&cookie), None).await;
        assert!(
            body.contains("id=\"missing\"") && body.contains("医療費・医療手当の証明書"),
            "{name}"
        );
        let step =
            |csrf: &str, step: &str| format!("csrf={csrf}&step={step}&done_on=&amount_yen=&note=");
        send(
            &s.app,
            "POST",
            &format!("{page}/steps"),
            Some(&cookie),
            Some(&step(&csrf, "investigated")),
        )
        .await;
        let (status, _, body) = send(
            &s.app,
            "POST",
            &format!("{page}/steps"),
            Some(&cookie),
            Some(&step(&csrf, "forwarded")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(
            body.contains("id=\"err-step\"")
                && body.contains("書類が揃っていないため進達できません"),
            "{name}: {body}"
        );
        send(
            &s.app,
            "POST",
            &format!("{page}/documents"),
            Some(&cookie),
            Some(&format!("csrf={csrf}&document=medical_cost&received_on=")),
        )
        .await;
        let (status, _, _) = send(
            &s.app,
            "POST",
            &format!("{page}/steps"),
            Some(&cookie),
            Some(&step(&csrf, "forwarded")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        let now = s
            .store
            .relief_case(s.machida, case.case_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.status, "forwarded", "{name}");

        let letter = axum::http::Request::builder()
            .method("POST")
            .uri(format!("{page}/letter"))
            .header(header::COOKIE, format!("sesshu_session={cookie}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={csrf}&letter=forwarding")))
            .unwrap();
        let response = s.app.clone().oneshot(letter).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let pdf = to_bytes(response.into_body(), 1 << 24).await.unwrap();
        assert!(pdf.starts_with(b"%PDF"), "{name}");

        // Sapporo's officer reaches none of Machida's cases.
        let sapporo = MunicipalityCode::parse("011002").unwrap();
        common::account(&s.store, sapporo, "kyusai9", "role:relief", None).await;
        let (other, other_csrf) = session(&s.store, sapporo, "kyusai9").await;
        let (status, _, _) = send(&s.app, "GET", &page, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        let (status, _, _) = send(
            &s.app,
            "POST",
            &format!("{page}/steps"),
            Some(&other),
            Some(&step(&other_csrf, "approved")),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
    }
}
