//! `ivs_client::webhook`: the Standard Webhooks reference vectors, and every
//! way a delivery must be refused (tampered, stale, from the future, signed
//! with another secret, missing headers, a malformed secret).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ivs_client::model::EventKind;
use ivs_client::reqwest::header::HeaderMap;
use ivs_client::webhook::{self, Verifier, WebhookError};

/// The vector of the reference JavaScript library's "sign function works".
const JS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const JS_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const JS_TIMESTAMP: i64 = 1614265330;
const JS_BODY: &[u8] = br#"{"test": 2432232314}"#;
const JS_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// The vector of the reference Rust library's `test_sign`.
const RS_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const RS_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const RS_TIMESTAMP: i64 = 1649367553;
const RS_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const RS_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

/// A `viewer.left` as the server sends it.
const EVENT_ID: &str = "evt_0f3a9c21d4b7e85a";
const EVENT_BODY: &[u8] = br#"{"id":"evt_0f3a9c21d4b7e85a","type":"viewer.left","timestamp":"2025-10-19T12:00:00.000Z","data":{"userId":"viewer-001","stageArn":"arn:aws:ivs:us-east-1:123456789012:stage/abcdEFGH1234","watchDuration":95}}"#;
/// 2025-10-19T12:00:00Z, when the event's delivery is signed.
const SENT: i64 = 1760875200;

fn at(unix: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).expect("after 1970"))
}

/// A verifier whose clock reads `now` (Unix seconds).
fn verifier_at(secret: &str, now: i64) -> Verifier {
    Verifier::new(secret)
        .expect("a valid secret")
        .with_clock(move || at(now))
}

fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ] {
        map.insert(name, value.parse().expect("a header value"));
    }
    map
}

/// The event's delivery, signed with `JS_SECRET` at `SENT`.
fn event_delivery() -> HeaderMap {
    let signature = Verifier::new(JS_SECRET)
        .expect("a valid secret")
        .sign(EVENT_ID, SENT, EVENT_BODY);
    headers(EVENT_ID, &SENT.to_string(), &signature)
}

#[test]
fn signs_the_reference_vectors() {
    let js = Verifier::new(JS_SECRET).unwrap();
    assert_eq!(js.sign(JS_ID, JS_TIMESTAMP, JS_BODY), JS_SIGNATURE);
    let rs = Verifier::new(RS_SECRET).unwrap();
    assert_eq!(rs.sign(RS_ID, RS_TIMESTAMP, RS_BODY), RS_SIGNATURE);
}

#[test]
fn verifies_the_reference_vectors() {
    for (secret, id, ts, body, signature) in [
        (JS_SECRET, JS_ID, JS_TIMESTAMP, JS_BODY, JS_SIGNATURE),
        (RS_SECRET, RS_ID, RS_TIMESTAMP, RS_BODY, RS_SIGNATURE),
    ] {
        let v = verifier_at(secret, ts + 10);
        v.verify_signature(&headers(id, &ts.to_string(), signature), body)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        // Neither body is an event: signed, but refused as a body.
        let err = v
            .verify(&headers(id, &ts.to_string(), signature), body)
            .unwrap_err();
        assert!(matches!(err, WebhookError::InvalidBody(_)), "{err:?}");
    }
}

#[test]
fn a_signed_event_reads_as_its_type() {
    let event = verifier_at(JS_SECRET, SENT + 1)
        .verify(&event_delivery(), EVENT_BODY)
        .expect("a good delivery");
    assert_eq!(event.id, EVENT_ID);
    assert_eq!(event.event_type(), "viewer.left");
    let EventKind::ViewerLeft(left) = &event.kind else {
        panic!("{event:?}")
    };
    assert_eq!(left.user_id.as_str(), "viewer-001");
    assert_eq!(left.watch_duration, 95);
}

#[test]
fn the_free_function_checks_against_the_system_clock() {
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let signature = Verifier::new(JS_SECRET)
        .unwrap()
        .sign(EVENT_ID, now, EVENT_BODY);
    let h = headers(EVENT_ID, &now.to_string(), &signature);
    let event = webhook::verify(JS_SECRET, &h, EVENT_BODY).expect("a fresh delivery");
    assert_eq!(event.event_type(), "viewer.left");
    // The same delivery recorded at SENT is long stale now.
    let err = webhook::verify(JS_SECRET, &event_delivery(), EVENT_BODY).unwrap_err();
    assert!(matches!(err, WebhookError::TooOld { .. }), "{err:?}");
}

#[test]
fn tampering_with_body_id_timestamp_or_signature_is_refused() {
    let v = verifier_at(JS_SECRET, SENT);
    let good = event_delivery();
    let signature = good["webhook-signature"].to_str().unwrap().to_owned();
    v.verify(&good, EVENT_BODY).expect("the untouched delivery");

    let tampered_body = String::from_utf8(EVENT_BODY.to_vec())
        .unwrap()
        .replace("95", "9500");
    let other_id = headers("evt_0f3a9c21d4b7e85b", &SENT.to_string(), &signature);
    let other_time = headers(EVENT_ID, &(SENT + 1).to_string(), &signature);
    // One bit of the MAC flipped, and the MAC cut short.
    let mut mac = signature.as_bytes().to_vec();
    mac[5] ^= 0x01;
    let flipped = headers(
        EVENT_ID,
        &SENT.to_string(),
        std::str::from_utf8(&mac).unwrap(),
    );
    let short = headers(EVENT_ID, &SENT.to_string(), &signature[..20]);
    let unversioned = headers(EVENT_ID, &SENT.to_string(), &signature[3..]);
    let other_version = headers(
        EVENT_ID,
        &SENT.to_string(),
        &signature.replacen("v1,", "v2,", 1),
    );
    for (what, h, body) in [
        ("body", &good, tampered_body.as_bytes()),
        ("id", &other_id, EVENT_BODY),
        ("timestamp", &other_time, EVENT_BODY),
        ("flipped bit", &flipped, EVENT_BODY),
        ("cut signature", &short, EVENT_BODY),
        ("no version", &unversioned, EVENT_BODY),
        ("other version", &other_version, EVENT_BODY),
    ] {
        let err = v.verify(h, body).unwrap_err();
        assert!(
            matches!(err, WebhookError::NoMatchingSignature),
            "{what}: {err:?}"
        );
    }
}

#[test]
fn another_secret_does_not_verify_and_rotation_sends_both() {
    let old = Verifier::new(RS_SECRET).unwrap();
    let new = verifier_at(JS_SECRET, SENT);
    let by_old = old.sign(EVENT_ID, SENT, EVENT_BODY);
    let err = new
        .verify(&headers(EVENT_ID, &SENT.to_string(), &by_old), EVENT_BODY)
        .unwrap_err();
    assert!(matches!(err, WebhookError::NoMatchingSignature), "{err:?}");

    // While a secret is rotated the server signs with both: any one
    // matching is enough, wherever it is in the list, among entries of
    // other schemes and garbage.
    let by_new = new.sign(EVENT_ID, SENT, EVENT_BODY);
    for list in [
        format!("{by_old} {by_new}"),
        format!("{by_new} {by_old}"),
        format!(
            "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== \
             v1,not-base64!  garbage v2,{} {by_new} {by_old}",
            &by_new[3..]
        ),
    ] {
        new.verify(&headers(EVENT_ID, &SENT.to_string(), &list), EVENT_BODY)
            .unwrap_or_else(|e| panic!("{list}: {e}"));
    }
    let err = new
        .verify(
            &headers(
                EVENT_ID,
                &SENT.to_string(),
                &format!("{by_old} v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="),
            ),
            EVENT_BODY,
        )
        .unwrap_err();
    assert!(matches!(err, WebhookError::NoMatchingSignature), "{err:?}");
}

#[test]
fn the_timestamp_must_be_within_the_tolerance_either_way() {
    let h = event_delivery();
    let five_min = 5 * 60;
    // At the edges of the default tolerance: accepted.
    for now in [SENT - five_min, SENT, SENT + five_min] {
        verifier_at(JS_SECRET, now)
            .verify(&h, EVENT_BODY)
            .unwrap_or_else(|e| panic!("now = SENT{:+}: {e}", now - SENT));
    }
    // One second past them: too old (a possible replay), or from the future.
    let err = verifier_at(JS_SECRET, SENT + five_min + 1)
        .verify(&h, EVENT_BODY)
        .unwrap_err();
    match err {
        WebhookError::TooOld { age, tolerance } => {
            assert_eq!(age, Duration::from_secs(301));
            assert_eq!(tolerance, webhook::DEFAULT_TOLERANCE);
        }
        other => panic!("{other:?}"),
    }
    let err = verifier_at(JS_SECRET, SENT - five_min - 1)
        .verify(&h, EVENT_BODY)
        .unwrap_err();
    assert!(
        matches!(err, WebhookError::TooNew { ahead, .. } if ahead == Duration::from_secs(301)),
        "{err:?}"
    );
    // Checked before the signature: a stale delivery with a bad signature
    // is refused as stale.
    let stale_and_forged = headers(EVENT_ID, &(SENT - 3600).to_string(), "v1,AAAA");
    let err = verifier_at(JS_SECRET, SENT)
        .verify(&stale_and_forged, EVENT_BODY)
        .unwrap_err();
    assert!(matches!(err, WebhookError::TooOld { .. }), "{err:?}");

    // A tolerance of its own.
    let strict = verifier_at(JS_SECRET, SENT + 31).with_tolerance(Duration::from_secs(30));
    assert_eq!(strict.tolerance(), Duration::from_secs(30));
    let err = strict.verify(&h, EVENT_BODY).unwrap_err();
    assert!(matches!(err, WebhookError::TooOld { .. }), "{err:?}");
    let lenient = verifier_at(JS_SECRET, SENT + 3600).with_tolerance(Duration::from_secs(7200));
    lenient.verify(&h, EVENT_BODY).expect("within two hours");
}

#[test]
fn missing_and_malformed_headers_are_named() {
    let v = verifier_at(JS_SECRET, SENT);
    let good = event_delivery();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut h = good.clone();
        h.remove(name);
        let err = v.verify(&h, EVENT_BODY).unwrap_err();
        assert!(
            matches!(&err, WebhookError::MissingHeader { name: n } if *n == name),
            "{name}: {err:?}"
        );
        assert_eq!(err.to_string(), format!("missing header `{name}`"));
    }
    for bad in [
        "soon",
        "-1760875200",
        "+1760875200",
        "1760875200.5",
        "1e9",
        "99999999999999999999",
    ] {
        let mut h = good.clone();
        h.insert("webhook-timestamp", bad.parse().unwrap());
        let err = v.verify(&h, EVENT_BODY).unwrap_err();
        assert!(
            matches!(err, WebhookError::InvalidTimestamp),
            "{bad}: {err:?}"
        );
    }
    // An id with a `.` could shift bytes between id and timestamp.
    let mut h = good.clone();
    h.insert("webhook-id", "evt.1".parse().unwrap());
    let err = v.verify(&h, EVENT_BODY).unwrap_err();
    assert!(
        matches!(err, WebhookError::InvalidHeader { name: "webhook-id" }),
        "{err:?}"
    );
    let mut h = good.clone();
    h.insert("webhook-signature", "".parse().unwrap());
    let err = v.verify(&h, EVENT_BODY).unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::InvalidHeader {
                name: "webhook-signature"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn headers_as_pairs_match_names_in_any_case() {
    let v = verifier_at(JS_SECRET, SENT);
    let map = event_delivery();
    let signature = map["webhook-signature"].to_str().unwrap();
    let pairs = [
        ("Webhook-Id", EVENT_ID),
        ("WEBHOOK-TIMESTAMP", "1760875200"),
        ("webhook-signature", signature),
    ];
    v.verify(&pairs, EVENT_BODY).expect("an array of pairs");
    v.verify(&pairs[..], EVENT_BODY).expect("a slice of pairs");
    let owned: Vec<(String, Vec<u8>)> = pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
        .collect();
    v.verify(&owned, EVENT_BODY).expect("a Vec of owned pairs");
    let err = v.verify(&pairs[1..], EVENT_BODY).unwrap_err();
    assert!(
        matches!(err, WebhookError::MissingHeader { name: "webhook-id" }),
        "{err:?}"
    );
}

#[test]
fn malformed_secrets_are_refused_without_printing_them() {
    for (secret, why) in [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("whsec_", "empty"),
        ("whsec_not base64!", "base64"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "base64"),
        ("", "whsec_"),
    ] {
        let err = Verifier::new(secret).unwrap_err();
        assert!(
            matches!(err, WebhookError::InvalidSecret { .. }),
            "{secret}: {err:?}"
        );
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(why), "{secret}: {shown}");
        let key = secret.trim_start_matches("whsec_");
        assert!(key.len() < 8 || !shown.contains(key), "{shown}");
        let err = webhook::verify(secret, &event_delivery(), EVENT_BODY).unwrap_err();
        assert!(matches!(err, WebhookError::InvalidSecret { .. }), "{err:?}");
    }
    // Padding is optional, and surrounding whitespace (a secret read from
    // a file) is not part of it.
    let unpadded = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";
    let padded = format!("{unpadded}=");
    let a = Verifier::new(unpadded).unwrap().sign("m", 1, b"x");
    let b = Verifier::new(&format!(" {padded}\n"))
        .unwrap()
        .sign("m", 1, b"x");
    assert_eq!(a, b);
    // Debug shows the tolerance, never the key.
    let shown = format!("{:?}", Verifier::new(JS_SECRET).unwrap());
    assert!(!shown.contains("MfKQ9r8G"), "{shown}");
    assert!(shown.contains("tolerance"), "{shown}");
}

#[test]
fn unknown_types_read_and_signed_garbage_is_a_body_error() {
    let v = verifier_at(JS_SECRET, SENT);
    let sign = |body: &[u8]| {
        let signature = v.sign(EVENT_ID, SENT, body);
        headers(EVENT_ID, &SENT.to_string(), &signature)
    };
    let newer = br#"{"id":"evt_1","type":"fleet.something_new","timestamp":"2025-10-19T12:00:00.000Z","data":{"x":1}}"#;
    let event = v
        .verify(&sign(newer), newer)
        .expect("a newer server's type");
    assert_eq!(event.event_type(), "fleet.something_new");
    assert!(matches!(event.kind, EventKind::Unknown { .. }), "{event:?}");

    let not_json = b"not json";
    let err = v.verify(&sign(not_json), not_json).unwrap_err();
    assert!(matches!(err, WebhookError::InvalidBody(_)), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
    v.verify_signature(&sign(not_json), not_json)
        .expect("the signature alone is good");
}
