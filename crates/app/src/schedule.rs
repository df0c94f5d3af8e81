//! The whole register forecast on one day (schedule.read): per series, how many persons are in
//! target and how many can be vaccinated now. Counts only: no person is shown.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{CivilDate, MunicipalityCode};
use sesshu_schedule::EvalRequest;
use sesshu_store::Outcome;

use crate::{Actor, App, AppError};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub in_target: u64,
    pub eligible: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RegisterForecast {
    pub as_of: CivilDate,
    pub persons: u64,
    pub doses: u64,
    pub seconds: f64,
    /// By series key.
    pub series: BTreeMap<String, Tally>,
}

impl App {
    /// Every person of the municipality judged on `as_of` — where it is read, on every core for
    /// a SQLite file; the tally is shared, the persons are not kept. Audited with the count.
    pub async fn forecast_register(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        as_of: CivilDate,
    ) -> Result<RegisterForecast, AppError> {
        self.authorize(actor, tenant, Permission::ScheduleRead, "schedule.forecast")
            .await?;
        let started = std::time::Instant::now();
        let tally: Mutex<BTreeMap<String, Tally>> = Mutex::default();
        let counts: Mutex<(u64, u64)> = Mutex::default();
        let engine = &self.engine;
        self.store
            .judge_persons_born(tenant, None, |person, doses| {
                let request = EvalRequest::for_person(person.birth_date, person.sex, &doses, as_of);
                let forecast = engine.evaluate(&request);
                if let Ok(mut t) = tally.lock() {
                    for (key, f) in forecast.series {
                        let t = t.entry(key).or_default();
                        t.in_target += u64::from(f.in_target);
                        t.eligible += u64::from(f.eligible);
                    }
                }
                if let Ok(mut c) = counts.lock() {
                    c.0 += 1;
                    c.1 += doses.len() as u64;
                }
            })
            .await?;
        let poisoned = || AppError::Internal("評価スレッドが異常終了しました".into());
        let series = tally.into_inner().map_err(|_| poisoned())?;
        let (persons, doses) = counts.into_inner().map_err(|_| poisoned())?;
        self.record(
            actor,
            "schedule.forecast",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"as_of": as_of.to_string(), "persons": persons}),
        )
        .await?;
        Ok(RegisterForecast {
            as_of,
            persons,
            doses,
            seconds: started.elapsed().as_secs_f64(),
            series,
        })
    }
}
