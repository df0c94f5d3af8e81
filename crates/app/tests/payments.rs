//! Clinic payments at the application layer, on both backends (issue 18, F10): prices as data,
//! institutions' accounts, a month's run from the register's doses with every unpaid dose's
//! reason, approval by a second person, the bank's Zengin file read back field by field, a dose
//! never paid twice, a clinic's claim reconciled — and refusals for whoever may not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Cursor;

use chrono::Datelike;

use sesshu_app::doses::DoseChange;
use sesshu_app::{Actor, App, AppError, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::dose::{BillingMonth, Dose, DoseJudgement};
use sesshu_domain::{MunicipalityCode, Person, ResidentStatus};
use sesshu_formats::zengin::read_file;
use sesshu_store::{PaymentStatus, Store};

const A: &str = "1310000001";
const B: &str = "1310000002";
const C: &str = "1310000003";

const PRICES: &str = "ワクチン,回数,適用開始日,適用終了日,単価\n\
dpt_ipv_hib,,2015-04-01,2019-03-31,9999\n\
dpt_ipv_hib,,2019-04-01,,15000\n\
hepb,,2015-04-01,,5500\n\
hepb,1,2015-04-01,,6000\n\
hepb,予診のみ,2015-04-01,,3000\n";

const INSTITUTIONS: &str = "医療機関コード,医療機関名,受取人名カナ,金融機関コード,金融機関名カナ,支店コード,支店名カナ,預金種目,口座番号\n\
1310000001,山田小児科,イ）ヤマダショウニカ,0001,ミズホ,123,ホンテン,普通,1234567\n\
1310000002,鈴木医院,スズキイイン,0005,ミツビシユーエフジェイ,456,シブヤ,当座,7654321\n";

struct World {
    app: App,
    store: Store,
    tenant: MunicipalityCode,
    babies: Vec<Person>,
}

fn csv(s: &str) -> Cursor<Vec<u8>> {
    Cursor::new(s.as_bytes().to_vec())
}

fn payer(login: &str) -> Actor {
    common::actor("132098", login, "role:payments")
}

async fn world(url: &str) -> World {
    let (store, tenant) = common::machida_and_sapporo(url).await;
    let keyring = Keyring::generate();
    let mut people = sesshu_testkit::town(40, 21);
    let today = today_in_japan();
    for p in people.iter_mut().take(3) {
        // Born before the doses' days below, whatever day the test runs.
        p.birth_date = today - chrono::Days::new(100);
        p.status = ResidentStatus::Resident;
        p.protected = false;
    }
    let babies = people[..3].to_vec();
    common::import(&store, &keyring, tenant, &people).await;
    let app = common::app(&store, keyring);
    World {
        app,
        store,
        tenant,
        babies,
    }
}

struct Given<'a> {
    baby: &'a Person,
    product: &'a str,
    ordinal: u32,
    day: u64,
    institution: &'a str,
    month: &'a str,
}

async fn give(w: &World, g: Given<'_>, f: impl FnOnce(&mut Dose)) {
    let clerk = common::actor("132098", "clerk", "role:clerk");
    let mut dose = Dose::given(
        g.product,
        g.ordinal,
        g.baby.birth_date + chrono::Days::new(g.day),
    );
    dose.institution_code = Some(g.institution.into());
    dose.billing_month = Some(BillingMonth::parse(g.month).unwrap());
    f(&mut dose);
    w.app
        .add_dose(
            &clerk,
            w.tenant,
            g.baby.address_number.as_str(),
            DoseChange {
                dose,
                confirmed: true,
            },
        )
        .await
        .unwrap();
}

/// The month's doses: payable ones at A and B, and one of each reason not to pay.
async fn november(w: &World) {
    let [b0, b1, b2] = [&w.babies[0], &w.babies[1], &w.babies[2]];
    let m = "202611";
    let g = |baby, product, ordinal, day, institution| Given {
        baby,
        product,
        ordinal,
        day,
        institution,
        month: m,
    };
    give(w, g(b0, "dpt_ipv_hib", 1, 65, A), |_| {}).await;
    give(w, g(b0, "hepb", 1, 65, A), |_| {}).await;
    give(w, g(b1, "dpt_ipv_hib", 1, 66, B), |_| {}).await;
    // Deferred at the screening: paid at the screening price.
    give(w, g(b1, "hepb", 1, 70, A), |d| {
        d.judgement = DoseJudgement::Deferred
    })
    .await;
    // No price for BCG.
    give(w, g(b1, "bcg", 1, 66, B), |_| {}).await;
    // An institution without an account.
    give(w, g(b2, "dpt_ipv_hib", 1, 67, C), |_| {}).await;
    // Given before moving in.
    give(w, g(b2, "hepb", 1, 60, A), |d| d.given_elsewhere = true).await;
    // A day after the first dose: recorded as 要確認, not paid.
    give(w, g(b2, "dpt_ipv_hib", 2, 68, A), |_| {}).await;
    // Another billing month.
    give(
        w,
        Given {
            month: "202610",
            ..g(b0, "bcg", 1, 62, A)
        },
        |_| {},
    )
    .await;
}

async fn set_up_payments(w: &World) {
    assert_eq!(
        common::payments_set_up(&w.app, w.tenant, PRICES, INSTITUTIONS).await,
        (5, 2)
    );
}

#[tokio::test]
async fn a_months_doses_are_paid_once_after_a_second_persons_approval() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        november(&w).await;
        set_up_payments(&w).await;
        let (p1, p2) = (payer("payer1"), payer("payer2"));
        let month = BillingMonth::parse("202611").unwrap();

        let prep = w
            .app
            .prepare_payment_run(&p1, t, &month, common::transfer_day())
            .await
            .unwrap();
        let run = &prep.run;
        assert_eq!(run.status, PaymentStatus::AwaitingApproval, "{name}");
        assert_eq!((run.doses, run.total_yen), (4, 39_000), "{name}");
        let a = &prep.statements[0];
        assert_eq!(
            (a.institution_code.as_str(), a.institution_name.as_str()),
            (A, "山田小児科")
        );
        let lines: Vec<(&str, &str, i64, i64)> = a
            .lines
            .iter()
            .map(|l| (l.product.as_str(), l.dose.as_str(), l.unit_yen, l.count))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("dpt_ipv_hib", "第1回", 15_000, 1),
                // The first dose's own price, and the screening price of the deferral.
                ("hepb", "予診のみ", 3_000, 1),
                ("hepb", "第1回", 6_000, 1),
            ],
            "{name}"
        );
        assert_eq!(
            (
                prep.statements[1].institution_code.as_str(),
                prep.statements[1].total_yen
            ),
            (B, 15_000)
        );
        let mut reasons: Vec<&str> = prep.unpaid.iter().map(|u| u.reason.as_str()).collect();
        reasons.sort_unstable();
        assert_eq!(reasons.len(), 4, "{name}: {reasons:?}");
        assert!(
            reasons.iter().any(|r| r.contains("bcg の単価がありません")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains(C) && r.contains("口座")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("転入前接種")),
            "{reasons:?}"
        );
        assert!(reasons.iter().any(|r| r.contains("要確認")), "{reasons:?}");

        // A weekend transfer date is refused beside its field.
        let mut saturday = common::transfer_day();
        while saturday.weekday() != chrono::Weekday::Sat {
            saturday = saturday + chrono::Days::new(1);
        }
        let weekend = w.app.prepare_payment_run(&p1, t, &month, saturday).await;
        assert!(
            matches!(&weekend, Err(AppError::Field("transfer_date", m)) if m.contains("土曜日")),
            "{name}: {weekend:?}"
        );

        // The unpaid list names persons: the audit entry says they were shown.
        let prepared = common::entries(&w.store, t, "payment.prepare").await;
        let entry = prepared.iter().find(|e| e.outcome == "ok").unwrap();
        assert!(
            entry
                .persons_shown
                .contains(w.babies[2].address_number.as_str()),
            "{name}"
        );

        // Nothing is left to pay for the month while the run stands.
        let again = w
            .app
            .prepare_payment_run(&p1, t, &month, common::transfer_day())
            .await;
        assert!(
            matches!(&again, Err(AppError::Invalid(m)) if m.contains("支払済み 4 件")),
            "{name}: {again:?}"
        );

        // No file before approval, and no approving one's own run.
        let early = w.app.payment_transfer_file(&p2, t, &run.run_id).await;
        assert!(matches!(early, Err(AppError::Invalid(_))), "{name}");
        let own = w.app.approve_payment_run(&p1, t, &run.run_id).await;
        assert!(
            matches!(&own, Err(AppError::Invalid(m)) if m.contains("別の職員")),
            "{name}"
        );
        let refused = common::entries(&w.store, t, "payment.approve").await;
        assert!(refused.iter().any(|e| e.outcome == "refused"), "{name}");
        let approved = w
            .app
            .approve_payment_run(&p2, t, &run.run_id)
            .await
            .unwrap();
        assert_eq!(approved.approved_by.as_deref(), Some("user:payer2"));

        let (written, file) = w
            .app
            .payment_transfer_file(&p1, t, &run.run_id)
            .await
            .unwrap();
        assert_eq!(written.status, PaymentStatus::Written, "{name}");
        let records = read_file(&file).unwrap();
        let header = &records[0];
        assert_eq!(header.get("振込依頼人コード"), Some("9876543210"));
        assert_eq!(header.get("振込依頼人名"), Some("ﾏﾁﾀﾞｼ"));
        let mmdd = common::transfer_day().format("%m%d").to_string();
        assert_eq!(header.get("振込指定日"), Some(mmdd.trim_start_matches('0')));
        let data: Vec<(&str, &str, &str, &str)> = records[1..3]
            .iter()
            .map(|r| {
                (
                    r.get("受取人名").unwrap(),
                    r.get("振込金額").unwrap(),
                    r.get("顧客コード1").unwrap(),
                    r.get("預金種目").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            data,
            vec![("ｲ)ﾔﾏﾀﾞｼﾖｳﾆｶ", "24000", A, "1"), ("ｽｽﾞｷｲｲﾝ", "15000", B, "2")],
            "{name}"
        );
        assert_eq!(records[3].get("合計金額"), Some("39000"));
        assert_eq!(records[3].get("合計件数"), Some("2"));
        // The same file again; the run is no longer cancellable.
        let (_, again) = w
            .app
            .payment_transfer_file(&p2, t, &run.run_id)
            .await
            .unwrap();
        assert_eq!(again, file, "{name}");
        assert!(w.app.cancel_payment_run(&p2, t, &run.run_id).await.is_err());
        let written = common::entries(&w.store, t, "payment.transfer").await;
        assert!(
            written
                .iter()
                .any(|e| e.outcome == "ok" && e.detail.contains("\"total_yen\":39000")),
            "{name}"
        );

        // A dose recorded later in the month is paid by a new run; a cancelled run gives its
        // doses back.
        give(
            &w,
            Given {
                baby: &w.babies[0],
                product: "hepb",
                ordinal: 2,
                day: 95,
                institution: A,
                month: "202611",
            },
            |_| {},
        )
        .await;
        let late = w
            .app
            .prepare_payment_run(&p2, t, &month, common::transfer_day())
            .await
            .unwrap();
        assert_eq!(
            (late.run.doses, late.run.total_yen, late.already_paid),
            (1, 5_500, 4)
        );
        w.app
            .cancel_payment_run(&p1, t, &late.run.run_id)
            .await
            .unwrap();
        let redo = w
            .app
            .prepare_payment_run(&p2, t, &month, common::transfer_day())
            .await
            .unwrap();
        assert_eq!(redo.run.total_yen, 5_500, "{name}");
        let runs = w.app.payment_runs(&p1, t).await.unwrap();
        assert_eq!(runs.len(), 3, "{name}");
        let (_, statements) = w.app.payment_statements(&p1, t, &run.run_id).await.unwrap();
        let table = sesshu_app::payments::statements_csv(&run.clone(), &statements);
        assert!(
            table.contains("\"山田小児科\",\"合計\",\"\",\"\",\"3\",\"24000\""),
            "{table}"
        );
    }
}

#[tokio::test]
async fn bad_price_and_account_files_change_nothing_and_say_where() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        set_up_payments(&w).await;
        let me = payer("payer1");
        // A price overlapping one in force, and an unknown product.
        let bad = "ワクチン,回数,適用開始日,適用終了日,単価\nhepb,,2026-04-01,,7000\n";
        let r = w.app.import_prices(&me, t, csv(bad)).await;
        let Err(AppError::Rows(rows)) = r else {
            panic!("{name}: {r:?}")
        };
        assert_eq!(
            (rows[0].line, rows[0].column.as_deref()),
            (2, Some("適用開始日"))
        );
        assert!(rows[0].reason.contains("重なって"), "{}", rows[0].reason);
        let r = w
            .app
            .import_prices(
                &me,
                t,
                csv("ワクチン,回数,適用開始日,適用終了日,単価\nxyz,,2026-04-01,,1\n"),
            )
            .await;
        assert!(
            matches!(&r, Err(AppError::Rows(rows)) if rows[0].line == 2),
            "{r:?}"
        );
        assert_eq!(w.app.prices(&me, t).await.unwrap().len(), 5, "{name}");
        // A payee name the bank cannot take, beside a good row: neither is recorded.
        let head = INSTITUTIONS.lines().next().unwrap();
        let bad = format!(
            "{head}\n1310000009,新医院,シンイイン,0001,ミズホ,123,ホンテン,普通,1\n1310000001,山田小児科,山田小児科,0001,ミズホ,123,ホンテン,普通,1234567\n"
        );
        let r = w.app.import_payment_institutions(&me, t, csv(&bad)).await;
        let Err(AppError::Rows(rows)) = r else {
            panic!("{name}: {r:?}")
        };
        assert_eq!(
            (rows[0].line, rows[0].column.as_deref()),
            (3, Some("受取人名カナ"))
        );
        let kept = w.app.payment_institutions(&me, t).await.unwrap();
        assert_eq!(kept.len(), 2, "{name}");
        assert_eq!(kept[0].payee_kana, "ｲ)ﾔﾏﾀﾞｼﾖｳﾆｶ");
    }
}

#[tokio::test]
async fn a_claim_is_reconciled_line_by_line() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        november(&w).await;
        set_up_payments(&w).await;
        let me = payer("payer1");
        let [b0, b1, b2] = [&w.babies[0], &w.babies[1], &w.babies[2]];
        let day = |b: &Person, d: u64| (b.birth_date + chrono::Days::new(d)).to_string();
        let claim = format!(
            "医療機関コード,宛名番号,ワクチン,回数,接種日,請求額\n\
             {A},{},dpt_ipv_hib,1,{},15000\n\
             {A},{},hepb,1,{},6500\n\
             {A},{},mr,1,{},10000\n\
             {A},{},dpt_ipv_hib,2,{},15000\n",
            b0.address_number,
            day(b0, 65),
            b0.address_number,
            day(b0, 65),
            b1.address_number,
            day(b1, 66),
            b2.address_number,
            day(b2, 68),
        );
        let r = w
            .app
            .reconcile_claim(&me, t, &BillingMonth::parse("202611").unwrap(), csv(&claim))
            .await
            .unwrap();
        let lines = |v: &[sesshu_app::payments::ReconLine]| -> Vec<Option<u64>> {
            v.iter().map(|l| l.line).collect()
        };
        assert_eq!(lines(&r.matched), vec![Some(2)], "{name}");
        assert_eq!(lines(&r.price_differences), vec![Some(3)], "{name}");
        assert_eq!(r.price_differences[0].register_yen, Some(6_000));
        assert_eq!(r.price_differences[0].note, "差額 500 円");
        assert_eq!(lines(&r.billed_not_recorded), vec![Some(4)], "{name}");
        assert_eq!(lines(&r.not_payable), vec![Some(5)], "{name}");
        assert!(r.not_payable[0].note.contains("要確認"));
        // A's doses it did not bill: the deferral and the dose given elsewhere (B is not asked).
        let unbilled: Vec<(&str, Option<i64>)> = r
            .recorded_not_billed
            .iter()
            .map(|l| (l.product.as_str(), l.register_yen))
            .collect();
        assert_eq!(
            unbilled,
            vec![("hepb", None), ("hepb", Some(3_000))],
            "{name}: {unbilled:?}"
        );
        let audited = common::entries(&w.store, t, "payment.reconcile").await;
        assert!(
            audited[0].detail.contains("\"price_differences\":1"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn only_a_holder_of_the_payment_permission_in_its_own_municipality_gets_anywhere() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        november(&w).await;
        set_up_payments(&w).await;
        let month = BillingMonth::parse("202611").unwrap();
        let run = w
            .app
            .prepare_payment_run(&payer("payer1"), t, &month, common::transfer_day())
            .await
            .unwrap()
            .run;
        let clerk = common::actor("132098", "clerk", "role:clerk");
        let sapporo = common::actor("011002", "payer9", "role:payments");
        for who in [&clerk, &sapporo] {
            let expect = |r: &Result<_, AppError>| {
                if who.tenant == Some(t) {
                    matches!(r, Err(AppError::Forbidden(_)))
                } else {
                    matches!(r, Err(AppError::NotFound(_)))
                }
            };
            assert!(
                expect(&w.app.import_prices(who, t, csv(PRICES)).await.map(|_| ())),
                "{name}"
            );
            assert!(expect(&w.app.prices(who, t).await.map(|_| ())), "{name}");
            assert!(expect(
                &w.app.payment_institutions(who, t).await.map(|_| ())
            ));
            assert!(expect(
                &w.app
                    .prepare_payment_run(who, t, &month, common::transfer_day())
                    .await
                    .map(|_| ())
            ));
            assert!(expect(
                &w.app
                    .approve_payment_run(who, t, &run.run_id)
                    .await
                    .map(|_| ())
            ));
            assert!(expect(
                &w.app
                    .payment_transfer_file(who, t, &run.run_id)
                    .await
                    .map(|_| ())
            ));
            assert!(expect(
                &w.app
                    .cancel_payment_run(who, t, &run.run_id)
                    .await
                    .map(|_| ())
            ));
            assert!(expect(
                &w.app
                    .payment_statements(who, t, &run.run_id)
                    .await
                    .map(|_| ())
            ));
        }
        // Sapporo's own payer asking for Machida's run in Sapporo finds nothing.
        let sapporo_code = MunicipalityCode::parse("011002").unwrap();
        let r = w
            .app
            .payment_statements(&sapporo, sapporo_code, &run.run_id)
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}");
        let r = w
            .app
            .approve_payment_run(&sapporo, sapporo_code, &run.run_id)
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}");
        assert_eq!(
            w.store
                .payment_run(t, &run.run_id)
                .await
                .unwrap()
                .unwrap()
                .status,
            PaymentStatus::AwaitingApproval
        );
        let refusals = common::entries(&w.store, t, "payment.prepare").await;
        assert!(refusals.iter().any(|e| e.outcome == "refused"), "{name}");
    }
}
