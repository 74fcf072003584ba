//! Every request body the server decodes, then validates: no input may panic,
//! and every rejection must be a 4xx in the API's format.
#![no_main]

use ivs_client::model::{CreateStageRequest, TokenRequest, UpdateStageRequest, ViewerRef};
use ivs_server::http::body::decode_error;
use ivs_server::validate;
use libfuzzer_sys::fuzz_target;

fn check<T>(result: Result<T, serde_json::Error>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let err = decode_error(&e);
            assert!(err.status.is_client_error());
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(req) = check(serde_json::from_slice::<TokenRequest>(data)) {
        for prefix in ["viewer-", "broadcaster-"] {
            if let Err(e) = validate::user_id(&req.user_id, prefix) {
                assert!(e.status.is_client_error());
            }
        }
        if let Some(attrs) = &req.attributes {
            let _ = validate::attributes(attrs);
        }
        if let Some(arn) = &req.stage_arn {
            let _ = validate::stage_arn(arn);
        }
    }
    if let Some(r) = check(serde_json::from_slice::<ViewerRef>(data)) {
        let _ = validate::viewer_id(&r.user_id);
        let _ = validate::stage_arn(&r.stage_arn);
    }
    if let Some(r) = check(serde_json::from_slice::<CreateStageRequest>(data)) {
        let _ = validate::stage_name(&r.name);
        if let Some(tags) = &r.tags {
            let _ = validate::tags(tags);
        }
    }
    if let Some(r) = check(serde_json::from_slice::<UpdateStageRequest>(data)) {
        let _ = validate::stage_name(&r.name);
    }
});
