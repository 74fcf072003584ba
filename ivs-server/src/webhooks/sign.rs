//! Standard Webhooks signatures (symmetric, `v1`): HMAC-SHA256 keyed with
//! the secret's decoded bytes over `{webhook-id}.{webhook-timestamp}.{body}`,
//! sent base64-encoded as `v1,<signature>` in `webhook-signature`.

use aws_lc_rs::hmac;
use base64::Engine;

/// The header carrying the event id (the same on every attempt).
pub const ID_HEADER: &str = "webhook-id";
/// The header carrying the attempt's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// A signing key, prepared once for every attempt.
pub struct Signer(hmac::Key);

impl Signer {
    /// A signer for a decoded `whsec_` key.
    pub fn new(key: &[u8]) -> Self {
        Signer(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// The `webhook-signature` value of one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        let tag = ctx.sign();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::settings::parse_secret;

    /// The test vector of the Standard Webhooks reference libraries
    /// (github.com/standard-webhooks/standard-webhooks, libraries/*: `test_sign`).
    #[test]
    fn the_reference_test_vector() {
        let secret = parse_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let signer = Signer::new(secret.key());
        assert_eq!(
            signer.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn id_timestamp_and_body_are_all_signed() {
        let signer = Signer::new(&[1u8; 32]);
        let base = signer.sign("evt_1", 100, b"{}");
        assert_ne!(base, signer.sign("evt_2", 100, b"{}"));
        assert_ne!(base, signer.sign("evt_1", 101, b"{}"));
        assert_ne!(base, signer.sign("evt_1", 100, b"{ }"));
        assert_ne!(base, Signer::new(&[2u8; 32]).sign("evt_1", 100, b"{}"));
    }
}
