//! The schedule engine's JSON evaluation request: any bytes are refused or evaluated, never a
//! panic or a hang, whatever dates, doses or flags they hold.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sesshu_schedule::{Engine, EvalRequest, RuleBook};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(RuleBook::builtin().expect("the built-in rules")))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<EvalRequest>(data) {
        let _ = engine().evaluate(&request);
    }
});
