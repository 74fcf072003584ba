//! ES384 participant tokens in the format IVS accepts for self-signed tokens.
//!
//! The key is parsed once at start and kept as an `aws-lc-rs` key pair, so a
//! token costs one ECDSA signature and two small JSON encodings: no key
//! parsing per token (that would dominate the cost of a viewer join).

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ivs_api::{Attributes, Capability, Timestamp};
use serde::{Deserialize, Serialize};

use super::{IvsError, ParticipantToken, StageEndpoints, TokenSpec};
use ivs_api::StageArn;

/// Why a signing key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read the token key file {path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a P-384 private key in PEM.
    #[error("the token key is not a P-384 private key in PEM (PKCS#8 or SEC1): {0}")]
    Format(String),
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

/// The JWT header IVS expects.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// Token capabilities as IVS writes them in the claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityClaims {
    /// May publish.
    pub allow_publish: bool,
    /// May subscribe.
    pub allow_subscribe: bool,
}

impl CapabilityClaims {
    /// From the API's capability list.
    pub fn from_list(caps: &[Capability]) -> Self {
        CapabilityClaims {
            allow_publish: caps.contains(&Capability::Publish),
            allow_subscribe: caps.contains(&Capability::Subscribe),
        }
    }
}

/// The claim set of an IVS self-signed participant token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// The participant id.
    pub jti: String,
    /// The IVS user id.
    pub user_id: String,
    /// The stage ARN.
    pub resource: String,
    /// The stage id.
    pub topic: String,
    /// The stage's events endpoint.
    pub events_url: String,
    /// The stage's WHIP endpoint.
    pub whip_url: String,
    /// What the participant may do.
    pub capabilities: CapabilityClaims,
    /// Participant attributes.
    pub attributes: Attributes,
    /// Always `"1.0"`.
    pub version: String,
}

/// Signs participant tokens with one P-384 key.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer with a fresh key (the key dies with the process).
    pub fn generate(kid: impl Into<String>) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Format("key generation failed".into()))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, doc.as_ref())
            .map_err(|e| KeyError::Format(e.to_string()))?;
        Ok(TokenSigner {
            key,
            kid: kid.into(),
            rng,
        })
    }

    /// A fresh P-384 private key as PKCS#8 DER (to be shared by several
    /// processes, as the local emulator's account does through Redis).
    pub fn generate_pkcs8() -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| KeyError::Format("key generation failed".into()))
    }

    /// A signer with a PKCS#8 DER private key.
    pub fn from_pkcs8(der: &[u8], kid: impl Into<String>) -> Result<Self, KeyError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der)
            .map_err(|e| KeyError::Format(e.to_string()))?;
        Ok(TokenSigner {
            key,
            kid: kid.into(),
            rng: SystemRandom::new(),
        })
    }

    /// A signer with the private key in a PEM file.
    pub fn from_pem_file(path: &Path, kid: impl Into<String>) -> Result<Self, KeyError> {
        let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pem(&pem, kid)
    }

    /// A signer with a PEM private key (`PRIVATE KEY` or `EC PRIVATE KEY`).
    pub fn from_pem(pem: &str, kid: impl Into<String>) -> Result<Self, KeyError> {
        let (label, der) = decode_pem(pem)?;
        let key = match label.as_str() {
            "PRIVATE KEY" => EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &der),
            "EC PRIVATE KEY" => {
                EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_FIXED_SIGNING, &der)
            }
            other => return Err(KeyError::Format(format!("unexpected PEM label {other}"))),
        }
        .map_err(|e| KeyError::Format(e.to_string()))?;
        Ok(TokenSigner {
            key,
            kid: kid.into(),
            rng: SystemRandom::new(),
        })
    }

    /// The key id put in every token's header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as an uncompressed SEC1 point (what verifiers load).
    pub fn public_key_point(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), the format
    /// IVS's ImportPublicKey takes.
    pub fn public_key_pem(&self) -> String {
        // SPKI prefix for an id-ecPublicKey / secp384r1 key with a 97-byte point.
        const SPKI_P384_PREFIX: [u8; 23] = [
            0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
        ];
        let mut der = SPKI_P384_PREFIX.to_vec();
        der.extend_from_slice(self.key.public_key().as_ref());
        let b64 = STANDARD.encode(der);
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }

    /// Mints the participant token IVS expects for `spec` on a stage with
    /// these endpoints: IVS's self-signed claim set, signed with this key.
    pub fn mint(
        &self,
        spec: &TokenSpec,
        endpoints: &StageEndpoints,
    ) -> Result<ParticipantToken, IvsError> {
        let topic = spec
            .stage_arn
            .parse::<StageArn>()
            .map_err(|e| IvsError::Validation(e.to_string()))?
            .id()
            .to_string();
        let now = chrono::Utc::now();
        let exp_ms = now.timestamp_millis() + spec.duration.as_millis() as i64;
        let claims = Claims {
            exp: exp_ms / 1000,
            iat: now.timestamp(),
            jti: spec.participant_id.clone(),
            user_id: spec.user_id.clone(),
            resource: spec.stage_arn.clone(),
            topic,
            events_url: endpoints.events.clone(),
            whip_url: endpoints.whip.clone(),
            capabilities: CapabilityClaims::from_list(&spec.capabilities),
            attributes: spec.attributes.clone(),
            version: "1.0".into(),
        };
        let token = self
            .sign(&claims)
            .map_err(|e| IvsError::Token(e.to_string()))?;
        Ok(ParticipantToken {
            token,
            participant_id: spec.participant_id.clone(),
            expires_at: Timestamp::from_millis(claims.exp * 1000),
        })
    }

    /// Signs a claim set into a compact JWS.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let header = Header {
            alg: "ES384",
            typ: "JWT",
            kid: &self.kid,
        };
        let header = serde_json::to_vec(&header).map_err(|_| KeyError::Sign)?;
        let claims = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        let mut token = String::with_capacity(1024);
        URL_SAFE_NO_PAD.encode_string(header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let sig = self
            .key
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| KeyError::Sign)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut token);
        Ok(token)
    }
}

fn decode_pem(pem: &str) -> Result<(String, Vec<u8>), KeyError> {
    let mut lines = pem.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .ok_or_else(|| KeyError::Format("empty file".into()))?;
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| KeyError::Format("no PEM BEGIN line".into()))?
        .to_string();
    let end = format!("-----END {label}-----");
    let mut b64 = String::new();
    for line in lines {
        if line == end {
            let der = STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| KeyError::Format(e.to_string()))?;
            return Ok((label, der));
        }
        b64.push_str(line);
    }
    Err(KeyError::Format("no PEM END line".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    fn claims() -> Claims {
        Claims {
            exp: chrono::Utc::now().timestamp() + 60,
            iat: chrono::Utc::now().timestamp(),
            jti: "abcDEF123456".into(),
            user_id: "viewer-1".into(),
            resource: "arn:aws:ivs:us-east-1:123456789012:stage/abcdefABCDEF".into(),
            topic: "abcdefABCDEF".into(),
            events_url: "wss://events".into(),
            whip_url: "https://whip".into(),
            capabilities: CapabilityClaims {
                allow_publish: false,
                allow_subscribe: true,
            },
            attributes: Attributes::new(),
            version: "1.0".into(),
        }
    }

    #[test]
    fn signature_verifies_with_the_public_key() {
        let signer = TokenSigner::generate("kid-1").unwrap();
        let token = signer.sign(&claims()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES384);
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let key = DecodingKey::from_ec_der(&signer.public_key_point());
        let mut v = Validation::new(Algorithm::ES384);
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(&token, &key, &v).unwrap();
        assert_eq!(data.claims, claims_without_times(&data.claims));
        // Another key must not verify it.
        let other = TokenSigner::generate("kid-2").unwrap();
        let key = DecodingKey::from_ec_der(&other.public_key_point());
        assert!(jsonwebtoken::decode::<Claims>(&token, &key, &v).is_err());
    }

    fn claims_without_times(c: &Claims) -> Claims {
        let mut want = claims();
        want.exp = c.exp;
        want.iat = c.iat;
        want
    }

    #[test]
    fn pem_round_trip_through_pkcs8() {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(doc.as_ref())
        );
        let signer = TokenSigner::from_pem(&pem, "k").unwrap();
        assert!(signer
            .public_key_pem()
            .starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(TokenSigner::from_pem("garbage", "k").is_err());
        assert!(TokenSigner::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "k"
        )
        .is_err());
    }
}
