//! Keys and the My Number's protection at rest.
//!
//! A deployment has one keyring (a key file or `SESSHU_KEY`, never the database). Each
//! municipality's keys are derived from it with HKDF, so one tenant's key opens nothing of
//! another's. Every ciphertext carries its key version, so keys rotate without a flag day.

pub mod certificate;
mod keyring;
pub mod password;
mod sealing;
pub mod signing;
pub mod totp;

pub use keyring::{KeyFileError, Keyring, KeyringSource, MasterKey, RetireError};
pub use sealing::{BlindIndex, CryptoError, MyNumberAad, Sealed, TenantCrypto};
