//! The token printed on a certificate, as a verifier scans or types it: never a panic, and no
//! token opens unless the key signed it (the fuzzer cannot forge Ed25519).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sesshu_crypto::Keyring;
use sesshu_crypto::certificate::{
    CertificatePublicKey, CertificateSigner, open_token, token_key_id,
};

fn key() -> &'static (CertificatePublicKey, String) {
    static KEY: OnceLock<(CertificatePublicKey, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let signer = CertificateSigner::current(&Keyring::generate(), "132098").expect("a signer");
        (signer.public_key(), signer.sign(b"{\"c\":\"fuzz\"}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (public, genuine) = key();
    let _ = token_key_id(text);
    let _ = CertificatePublicKey::parse(text);
    if let Ok(payload) = open_token(text, std::slice::from_ref(public)) {
        assert_eq!(
            text.trim(),
            genuine.as_str(),
            "only the genuine token opens"
        );
        assert_eq!(payload, b"{\"c\":\"fuzz\"}");
    }
});
