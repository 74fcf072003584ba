//! Every request body the server decodes (ids are parsed while decoding),
//! then validates: no input may panic, and every rejection must be a 4xx in
//! the API's format.
#![no_main]

use ivs_api::{CreateStageRequest, TokenRequest, UpdateStageRequest, ViewerRef};
use ivs_server::http::body::decode_error;
use ivs_server::http::error::ApiError;
use ivs_server::service::validate;
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

fn client_error<E: Into<ApiError>>(result: Result<(), E>) {
    if let Err(e) = result {
        assert!(e.into().status.is_client_error());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(req) = check(serde_json::from_slice::<TokenRequest>(data)) {
        client_error(req.user_id.fits_publisher());
        if let Some(attrs) = &req.attributes {
            client_error(validate::attributes(attrs));
        }
    }
    let _ = check(serde_json::from_slice::<ViewerRef>(data));
    if let Some(r) = check(serde_json::from_slice::<CreateStageRequest>(data)) {
        client_error(validate::stage_name(&r.name));
        if let Some(tags) = &r.tags {
            client_error(validate::tags(tags));
        }
    }
    if let Some(r) = check(serde_json::from_slice::<UpdateStageRequest>(data)) {
        client_error(validate::stage_name(&r.name));
    }
});
