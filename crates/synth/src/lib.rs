//! A deterministic synthetic town ("さくら市") for demos, tests and benchmarks.
//!
//! Persons come household by household from a seeded RNG, so a town of any size streams in
//! constant memory and the same seed always gives the same town. Nothing here is anyone real:
//! names are common ones recombined, addresses lie in a fictional city, My Numbers are random
//! digits with a valid check digit.

pub mod doses;
mod names;
mod town;

pub use town::{ChangeKind, Town, TownSpec};
