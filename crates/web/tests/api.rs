//! The JSON API over both backends: tenant scoping, masking, headers, bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::Value;
use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::MunicipalityCode;
use sesshu_formats::{ReadOptions, TextEncoding, contains_my_number};
use sesshu_store::{ImportMode, ImportOptions, Store};
use sesshu_web::{AppState, router};
use tower::ServiceExt;

async fn app(url: &str) -> (axum::Router, Vec<sesshu_domain::Person>) {
    let store = Store::connect(url).await.unwrap();
    let keyring = Keyring::generate();
    let machida = MunicipalityCode::parse("132098").unwrap();
    store.create_municipality(machida, "町田市").await.unwrap();
    store
        .create_municipality(MunicipalityCode::parse("011002").unwrap(), "札幌市")
        .await
        .unwrap();
    let mut people = sesshu_testkit::town(120, 9);
    people[0].protected = true;
    let crypto = Arc::new(TenantCrypto::derive(&keyring, machida).unwrap());
    let options = ImportOptions {
        mode: ImportMode::Full,
        all_or_nothing: true,
        file_name: "f.csv".into(),
        operator: "t".into(),
        read: ReadOptions::default(),
    };
    let bytes = sesshu_testkit::feed(&people, TextEncoding::Utf8);
    store
        .import_residents(
            machida,
            crypto,
            std::io::Cursor::new(bytes),
            options,
            |_| {},
            |_| {},
        )
        .await
        .unwrap();
    let p = &people[1];
    store
        .record_dose(
            machida,
            p.address_number.as_str(),
            sesshu_domain::Dose {
                product: "bcg".into(),
                ordinal: 1,
                given_on: p.birth_date + chrono::Days::new(150),
                judgement: sesshu_domain::DoseJudgement::Given,
                institution_code: None,
                institution_name: None,
                doctor: None,
                lot: Some("B1".into()),
                manufacturer: None,
                amount_ml: None,
                screened_on: None,
                billing_month: None,
                subsidy_yen: None,
                ticket_number: None,
                notes: None,
                given_elsewhere: false,
                antibody_result: None,
            },
            None,
            sesshu_store::Judged::default(),
            "t",
        )
        .await
        .unwrap();
    (
        router(AppState {
            store,
            keyring: Arc::new(keyring),
            engine: Arc::new(sesshu_schedule::Engine::new(
                sesshu_schedule::RuleBook::builtin().unwrap(),
            )),
        }),
        people,
    )
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 22).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn persons_are_served_only_within_their_municipality() {
    for db in sesshu_testkit::backends().await {
        let (app, people) = app(&db.url).await;
        let with_number = people.iter().find(|p| p.my_number.is_some()).unwrap();
        let uri = format!(
            "/api/v1/municipalities/132098/persons/{}",
            with_number.address_number
        );
        let (status, headers, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", db.name);
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.contains_key("content-security-policy"));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["person"]["address_number"],
            with_number.address_number.as_str()
        );
        assert_eq!(
            v["person"]["my_number"].as_str().unwrap(),
            with_number.my_number.as_ref().unwrap().masked()
        );
        assert!(
            !contains_my_number(&body),
            "{}: My Number in the API",
            db.name
        );

        // Doses come with their judgement, and every series with its forecast.
        let (_, _, body) = get(
            &app,
            &format!(
                "/api/v1/municipalities/132098/persons/{}",
                people[1].address_number
            ),
        )
        .await;
        let v: Value = serde_json::from_str(&body).unwrap();
        let doses = v["doses"].as_array().unwrap();
        assert_eq!(doses.len(), 1, "{}: {body}", db.name);
        assert_eq!(doses[0]["product"], "bcg");
        assert!(doses[0]["evaluation"].as_str().is_some());
        assert!(v["schedule"]["hib"].get("eligible").is_some());
        assert!(v["schedule"]["mr"].get("next_dose").is_some());

        // The same address number under another municipality is simply not there.
        let other = format!(
            "/api/v1/municipalities/011002/persons/{}",
            with_number.address_number
        );
        assert_eq!(
            get(&app, &other).await.0,
            StatusCode::NOT_FOUND,
            "{}",
            db.name
        );
        let other_search = "/api/v1/municipalities/011002/persons?kana=%E3%82%B5";
        let (status, _, body) = get(&app, other_search).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "[]"));
        assert_eq!(
            get(&app, "/api/v1/municipalities/131016/persons/100001")
                .await
                .0,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn search_hides_protected_addresses_and_bad_input_is_a_clear_400() {
    for db in sesshu_testkit::backends().await {
        let (app, people) = app(&db.url).await;
        let kana = urlencode(&people[0].kana.family);
        let (status, _, body) = get(
            &app,
            &format!("/api/v1/municipalities/132098/persons?kana={kana}&limit=500"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let hits: Vec<Value> = serde_json::from_str(&body).unwrap();
        let protected = hits
            .iter()
            .find(|h| h["address_number"] == people[0].address_number.as_str())
            .unwrap();
        assert_eq!(protected["protected"], true);
        assert!(
            protected["address"].is_null(),
            "{}: protected address listed",
            db.name
        );

        for (uri, expect) in [
            ("/api/v1/municipalities/132098/persons", "いずれか"),
            (
                "/api/v1/municipalities/132098/persons?birth_date=2025-02-30",
                "存在しない日付",
            ),
            ("/api/v1/municipalities/132099/persons?kana=a", "検査数字"),
            ("/api/v1/municipalities/132098/persons/12a", "宛名番号"),
        ] {
            let (status, _, body) = get(&app, uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert!(body.contains(expect), "{uri}: {body}");
        }
        let (status, _, body) = get(&app, "/api/v1/municipalities/132098/imports").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("\"status\":\"applied\""), "{body}");
        assert_eq!(get(&app, "/health").await.0, StatusCode::OK);
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}
