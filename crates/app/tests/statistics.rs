//! The annual table of routine doses by vaccine and 期/回 (issue 18, F9), on both backends:
//! hand counts by sex for the office; hidden and rounded counts for a prefecture; flagged,
//! deferred and elsewhere-given doses not counted; refusals for whoever may not read it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Datelike;
use sesshu_app::doses::DoseChange;
use sesshu_app::statistics::annual_csv;
use sesshu_app::{Actor, App, AppError, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::access::expand;
use sesshu_domain::dose::{Dose, DoseJudgement};
use sesshu_domain::{FiscalYear, MunicipalityCode, Person, ResidentStatus, Sex};

struct World {
    app: App,
    tenant: MunicipalityCode,
    people: Vec<Person>,
    babies: Vec<Person>,
}

/// Seven babies of 100 days: each had 5種混合 1回目 at 65 days; two had B型肝炎 1回目; the first
/// also a second 5種混合 a day later (要確認), a deferral and a dose given before moving in.
async fn world(url: &str) -> World {
    let (store, tenant) = common::machida_and_sapporo(url).await;
    let keyring = Keyring::generate();
    let mut people = sesshu_testkit::town(40, 21);
    let today = today_in_japan();
    for p in people.iter_mut().take(7) {
        p.birth_date = today - chrono::Days::new(100);
        p.status = ResidentStatus::Resident;
    }
    let babies = people[..7].to_vec();
    common::import(&store, &keyring, tenant, &people).await;
    let app = common::app(&store, keyring);
    let w = World {
        app,
        tenant,
        people,
        babies,
    };
    let clerk = common::actor("132098", "clerk", "role:clerk");
    let give = |i: usize, product: &str, ordinal: u32, day: u64| {
        let p = &w.babies[i];
        (
            p.address_number.to_string(),
            Dose::given(product, ordinal, p.birth_date + chrono::Days::new(day)),
        )
    };
    let mut doses: Vec<(String, Dose)> = (0..7).map(|i| give(i, "dpt_ipv_hib", 1, 65)).collect();
    doses.push(give(0, "hepb", 1, 65));
    doses.push(give(1, "hepb", 1, 65));
    doses.push(give(0, "dpt_ipv_hib", 2, 66));
    let (a, mut deferred) = give(2, "hepb", 1, 66);
    deferred.judgement = DoseJudgement::Deferred;
    doses.push((a, deferred));
    let (a, mut elsewhere) = give(3, "hepb", 1, 60);
    elsewhere.given_elsewhere = true;
    doses.push((a, elsewhere));
    for (a, dose) in doses {
        w.app
            .add_dose(
                &clerk,
                tenant,
                &a,
                DoseChange {
                    dose,
                    confirmed: true,
                },
            )
            .await
            .unwrap();
    }
    w
}

fn prefecture(code: &str) -> Actor {
    Actor {
        tenant: None,
        prefecture: Some(code.into()),
        actor: format!("token:pref{code}"),
        kind: "token",
        permissions: expand("role:statistics").unwrap().into_iter().collect(),
        source: "test".into(),
        institution: None,
    }
}

#[tokio::test]
async fn the_annual_table_counts_routine_doses_by_stage_and_sex() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let fy = FiscalYear::of(w.babies[0].birth_date + chrono::Days::new(65)).0;
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let r = w.app.annual_report(&clerk, t, fy).await.unwrap();
        let males = |n: usize| w.babies[..n].iter().filter(|p| p.sex == Sex::Male).count() as i64;
        type Line<'a> = (&'a str, &'a str, Option<i64>, Option<i64>, Option<i64>);
        let lines: Vec<Line> = r
            .lines
            .iter()
            .map(|l| {
                (
                    l.product.as_str(),
                    l.stage.as_str(),
                    l.male,
                    l.female,
                    l.total,
                )
            })
            .collect();
        // The rules list B型肝炎 before 5種混合.
        assert_eq!(
            lines,
            vec![
                ("hepb", "1回目", Some(males(2)), Some(2 - males(2)), Some(2)),
                (
                    "dpt_ipv_hib",
                    "1期初回1回目",
                    Some(males(7)),
                    Some(7 - males(7)),
                    Some(7)
                ),
            ],
            "{name}"
        );
        assert!(!r.suppressed);
        assert_eq!(r.lines[1].product_name, "5種混合(DPT-IPV-Hib)");
        let csv = annual_csv(&r);
        assert!(
            csv.contains(&format!(
                "\"{fy}\",\"5種混合(DPT-IPV-Hib)\",\"dpt_ipv_hib\",\"1期初回1回目\""
            )),
            "{csv}"
        );
        // Another year has nothing.
        assert!(
            w.app
                .annual_report(&clerk, t, fy - 1)
                .await
                .unwrap()
                .lines
                .is_empty()
        );

        // A prefecture sees 7 as 5 and 2 as hidden.
        let tokyo = prefecture("13");
        let p = w
            .app
            .prefecture_annual_report(&tokyo, "13", fy)
            .await
            .unwrap();
        assert!(p.suppressed, "{name}");
        assert_eq!(
            (p.lines[0].total, p.lines[1].total),
            (None, Some(5)),
            "{name}"
        );
        assert!(annual_csv(&p).contains("\"x\""), "{name}");
    }
}

#[tokio::test]
async fn the_annual_table_is_refused_to_whoever_may_not_read_it() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let auditor = common::actor("132098", "auditor", "role:auditor");
        let r = w.app.annual_report(&auditor, t, 2026).await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}: {r:?}");
        let sapporo = common::actor("011002", "clerk", "role:clerk");
        let r = w.app.annual_report(&sapporo, t, 2026).await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        // Hokkaido's token finds nothing in Tokyo; a municipality's staff is no prefecture.
        let r = w
            .app
            .prefecture_annual_report(&prefecture("01"), "13", 2026)
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let r = w.app.prefecture_annual_report(&clerk, "13", 2026).await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
    }
}

#[tokio::test]
async fn coverage_by_birth_cohort_counts_persons_with_the_dose() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let born = w.babies[0].birth_date;
        let month = born.format("%Y-%m").to_string();
        let cohort = w
            .people
            .iter()
            .filter(|p| {
                p.status == ResidentStatus::Resident
                    && p.birth_date.format("%Y-%m").to_string() == month
            })
            .count() as i64;
        let first = born.with_day(1).unwrap();
        let last = (first + chrono::Months::new(1)) - chrono::Days::new(1);
        // B型肝炎 1回目: two given here and one before moving in; the deferral is not a dose.
        let c = w
            .app
            .coverage_by_cohort(&clerk, t, "hepb", 1, first, last)
            .await
            .unwrap();
        assert_eq!(c.cohorts.len(), 1, "{name}");
        let k = &c.cohorts[0];
        assert_eq!(
            (k.cohort.as_str(), k.persons, k.vaccinated),
            (month.as_str(), cohort, 3),
            "{name}"
        );
        let expect = (3.0 * 1000.0 / cohort as f64).round() / 10.0;
        assert_eq!(k.percent, Some(expect), "{name}");
        // Hib 1回目 counts the 5種混合 doses.
        let hib = w
            .app
            .coverage_by_cohort(&clerk, t, "hib", 1, first, last)
            .await
            .unwrap();
        assert_eq!(hib.cohorts[0].vaccinated, 7, "{name}");
        let svg = sesshu_app::statistics::coverage_svg(&hib);
        assert!(
            svg.starts_with("<svg") && svg.contains(&format!("{month} 生まれ: 7 / {cohort} 人")),
            "{name}: {svg}"
        );
        assert!(
            sesshu_app::statistics::coverage_csv(&hib)
                .contains(&format!("\"{month}\",\"{cohort}\",\"7\""))
        );

        // The workbook: the annual table and the coverage with its chart, no person in it.
        let annual = w
            .app
            .annual_report(&clerk, t, FiscalYear::of(born).0)
            .await
            .unwrap();
        let target = w
            .app
            .target_coverage(&clerk, t, "hib", FiscalYear::of(born).0)
            .await
            .unwrap();
        let xlsx = sesshu_app::statistics::workbook(&annual, &hib, &target).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
        let mut text = |name: &str| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut s).unwrap();
            s
        };
        let strings = text("xl/sharedStrings.xml");
        assert!(
            strings.contains("接種率(%)")
                && strings.contains(&month)
                && strings.contains("対象者数"),
            "{name}"
        );
        assert!(text("xl/charts/chart1.xml").contains("接種率"), "{name}");
        for p in &w.people {
            assert!(!strings.contains(p.address_number.as_str()), "{name}");
        }

        let r = w
            .app
            .coverage_by_cohort(&clerk, t, "nope", 0, last, first)
            .await;
        let Err(AppError::Fields(f)) = r else {
            panic!("{name}: {r:?}")
        };
        assert_eq!(
            f.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            vec!["series", "dose", "born_to"]
        );
        let auditor = common::actor("132098", "auditor", "role:auditor");
        let r = w
            .app
            .coverage_by_cohort(&auditor, t, "hib", 1, first, last)
            .await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}");
        let sapporo = common::actor("011002", "clerk", "role:clerk");
        let r = w
            .app
            .coverage_by_cohort(&sapporo, t, "hib", 1, first, last)
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}");
    }
}

#[tokio::test]
async fn doses_are_broken_down_by_month_sex_age_and_district() {
    use sesshu_store::Dimension;
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let on = w.babies[0].birth_date + chrono::Days::new(65);
        let fy = FiscalYear::of(on).0;
        let go = |by| {
            let (app, clerk) = (&w.app, &clerk);
            async move {
                app.dose_breakdown(clerk, t, "hib", Some(1), fy, by)
                    .await
                    .unwrap()
            }
        };
        let month = go(Dimension::Month).await;
        assert_eq!(
            month.rows,
            vec![(on.format("%Y-%m").to_string(), 7)],
            "{name}"
        );
        let males = w.babies.iter().filter(|p| p.sex == Sex::Male).count() as i64;
        let sex = go(Dimension::Sex).await;
        let expected: Vec<(String, i64)> = [("男", males), ("女", 7 - males)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.to_owned(), n))
            .collect();
        assert_eq!(sex.rows, expected, "{name}");
        assert_eq!(
            go(Dimension::Age).await.rows,
            vec![("0歳".to_owned(), 7)],
            "{name}"
        );
        let mut districts: std::collections::BTreeMap<String, i64> = Default::default();
        for p in &w.babies {
            let d = if p.protected {
                None
            } else {
                p.address
                    .as_deref()
                    .and_then(sesshu_domain::district::of_address)
            };
            *districts
                .entry(d.unwrap_or_else(|| "(不明・非表示)".into()))
                .or_default() += 1;
        }
        let by_district = go(Dimension::Address).await;
        assert_eq!(
            by_district.rows,
            districts.into_iter().collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(by_district.total, 7);
        // Every dose of the series: the 要確認 second dose too.
        let all = w
            .app
            .dose_breakdown(&clerk, t, "hib", None, fy, Dimension::Month)
            .await
            .unwrap();
        assert_eq!(all.total, 8, "{name}");
        let auditor = common::actor("132098", "auditor", "role:auditor");
        let r = w
            .app
            .dose_breakdown(&auditor, t, "hib", None, fy, Dimension::Sex)
            .await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}");
        let r = w
            .app
            .dose_breakdown(&clerk, t, "nope", None, fy, Dimension::Sex)
            .await;
        assert!(matches!(r, Err(AppError::Field("series", _))), "{name}");
    }
}

/// Twelve persons set by hand for FY2026 (2026-04-01 to 2027-03-31). MR 2期's target is the
/// year before school: born 2020-04-02 to 2021-04-01. HPV's is girls turning 12 in the year:
/// born 2014-04-02 to 2015-04-01.
async fn target_world(url: &str) -> (App, MunicipalityCode) {
    let (store, tenant) = common::machida_and_sapporo(url).await;
    let keyring = Keyring::generate();
    let mut people = sesshu_testkit::town(12, 31);
    let set = [
        ("2020-04-02", Sex::Female, ResidentStatus::Resident), // MR2 target
        ("2021-04-01", Sex::Male, ResidentStatus::Resident),   // target, both MR doses
        ("2020-11-11", Sex::Female, ResidentStatus::Resident), // target, both MR doses
        ("2020-04-01", Sex::Male, ResidentStatus::Resident),   // 2期 was last year
        ("2021-04-02", Sex::Female, ResidentStatus::Resident), // 2期 is next year
        ("2020-10-10", Sex::Male, ResidentStatus::MovedOut),   // moved out: not counted
        ("2020-12-12", Sex::Female, ResidentStatus::Resident), // target, 1期 only
        ("2014-06-01", Sex::Female, ResidentStatus::Resident), // HPV target
        ("2014-06-02", Sex::Female, ResidentStatus::Resident), // HPV target, first dose
        ("2014-06-03", Sex::Male, ResidentStatus::Resident),   // a boy: not HPV's target
        ("2015-04-02", Sex::Female, ResidentStatus::Resident), // HPV is next year
        ("1950-01-01", Sex::Male, ResidentStatus::Resident),   // influenza, this season
    ];
    for (p, (born, sex, status)) in people.iter_mut().zip(set) {
        p.birth_date = sesshu_domain::parse_date(born).unwrap();
        p.sex = sex;
        p.status = status;
    }
    common::import(&store, &keyring, tenant, &people).await;
    let app = common::app(&store, keyring);
    let clerk = common::actor("132098", "clerk", "role:clerk");
    let doses = [
        (1, "mr", 1, "2022-05-01"),
        (1, "mr", 2, "2026-05-10"),
        (2, "mr", 1, "2021-12-01"),
        (2, "mr", 2, "2026-06-01"),
        (6, "mr", 1, "2021-12-20"),
        (8, "hpv9", 1, "2026-09-01"),
        (11, "flu", 1, "2026-11-01"),
    ];
    for (i, product, ordinal, on) in doses {
        let dose = Dose::given(product, ordinal, sesshu_domain::parse_date(on).unwrap());
        app.add_dose(
            &clerk,
            tenant,
            people[i].address_number.as_str(),
            DoseChange {
                dose,
                confirmed: true,
            },
        )
        .await
        .unwrap();
    }
    (app, tenant)
}

#[tokio::test]
async fn coverage_of_the_year_counts_the_target_the_rules_define() {
    for db in sesshu_testkit::backends().await {
        let (app, t) = target_world(&db.url).await;
        let name = db.name;
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let mr2 = app.target_coverage(&clerk, t, "mr2", 2026).await.unwrap();
        assert_eq!(mr2.target, Some(4), "{name}: {mr2:?}");
        let doses: Vec<_> = mr2
            .doses
            .iter()
            .map(|d| (d.stage.as_str(), d.vaccinated, d.percent))
            .collect();
        assert_eq!(doses, vec![("2期", Some(2), Some(50.0))], "{name}");
        assert_eq!(
            (mr2.complete, mr2.complete_percent),
            (Some(2), Some(50.0)),
            "{name}"
        );
        let hpv = app.target_coverage(&clerk, t, "hpv", 2026).await.unwrap();
        assert_eq!(hpv.target, Some(2), "{name}: {hpv:?}");
        let doses: Vec<_> = hpv
            .doses
            .iter()
            .map(|d| (d.dose, d.vaccinated, d.percent))
            .collect();
        assert_eq!(
            doses,
            vec![
                (1, Some(1), Some(50.0)),
                (2, Some(0), Some(0.0)),
                (3, Some(0), Some(0.0))
            ],
            "{name}"
        );
        assert_eq!(hpv.complete, Some(0), "{name}");
        // The year after: the 2021-04-02 child is MR2's only target, with no dose yet.
        let next = app.target_coverage(&clerk, t, "mr2", 2027).await.unwrap();
        assert_eq!(
            (next.target, next.doses[0].vaccinated),
            (Some(1), Some(0)),
            "{name}"
        );
        // A season's dose counts for its own year only.
        let flu = |fy| {
            let (app, clerk) = (&app, &clerk);
            async move {
                let c = app.target_coverage(clerk, t, "flu_b", fy).await.unwrap();
                (c.target, c.doses[0].vaccinated)
            }
        };
        assert_eq!(flu(2026).await, (Some(1), Some(1)), "{name}");
        assert_eq!(flu(2025).await, (Some(1), Some(0)), "{name}");
        let csv = sesshu_app::statistics::target_csv(&mr2);
        assert!(
            csv.contains("\"2026\",\"麻しん・風しん 2期\",\"2期\",\"4\",\"2\",\"50.0\""),
            "{name}: {csv}"
        );

        // Tokyo's token sees the four as hidden, and no share computed from them.
        let p = app
            .prefecture_target_coverage(&prefecture("13"), "13", "mr2", 2026)
            .await
            .unwrap();
        assert!(p.suppressed, "{name}");
        assert_eq!(
            (p.target, p.doses[0].vaccinated, p.doses[0].percent),
            (None, None, None),
            "{name}"
        );

        // Refusals: no permission, another municipality, another prefecture, a made-up series.
        let auditor = common::actor("132098", "auditor", "role:auditor");
        let r = app.target_coverage(&auditor, t, "mr2", 2026).await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}: {r:?}");
        let sapporo = common::actor("011002", "clerk", "role:clerk");
        let r = app.target_coverage(&sapporo, t, "mr2", 2026).await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let r = app
            .prefecture_target_coverage(&prefecture("01"), "13", "mr2", 2026)
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let r = app
            .prefecture_target_coverage(&clerk, "13", "mr2", 2026)
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let r = app.target_coverage(&clerk, t, "nope", 2026).await;
        assert!(
            matches!(r, Err(AppError::Field("series", _))),
            "{name}: {r:?}"
        );
    }
}
