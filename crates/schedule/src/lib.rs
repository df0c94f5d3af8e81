//! Routine immunization (定期接種) rules as data, and the engine that judges recorded doses and
//! forecasts the next one for every series.
//!
//! The rules live in `rules/schedule.toml` (shipped inside the binary, replaceable by a city's own
//! copy); this crate parses and checks that file ([`RuleBook`]), implements the date arithmetic
//! it speaks in ([`arith`]), and interprets it ([`Engine`]). [`contract`] is the JSON of
//! `sesshu schedule eval`, which programs outside the project rely on.

pub mod arith;
pub mod contract;
mod engine;
mod error;
pub mod rules;

pub use contract::{EvalRequest, EvalResponse, Forecast, Judgement};
pub use engine::Engine;
pub use error::RuleError;
pub use rules::RuleBook;
