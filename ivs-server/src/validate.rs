//! Request validation: every field from a request is checked here before any
//! state is touched, so a rejected request never leaves a partial write.

use ivs_client::model::{Attributes, Tags};

use crate::error::ApiError;
use crate::ivs::arn::StageArn;
use crate::ivs::local::valid_stage_name;

/// IVS's own bound on a participant's user id.
pub const IVS_USER_ID_MAX: usize = 128;
/// IVS's bound on a token's attributes (keys and values together).
pub const ATTRIBUTES_MAX_BYTES: usize = 1024;
/// IVS's bounds on tags.
pub const MAX_TAGS: usize = 50;

/// Checks a `userId` that will be sent to IVS as `prefix + userId`.
///
/// IVS limits its user id to 128 characters, prefix included, so the API's
/// own limit is 128 minus the prefix (121 for viewers, 116 for publishers).
pub fn user_id(user_id: &str, prefix: &str) -> Result<(), ApiError> {
    if user_id.is_empty() {
        return Err(ApiError::missing("userId"));
    }
    let max = IVS_USER_ID_MAX - prefix.len();
    if user_id.chars().count() > max || user_id.len() > max {
        return Err(ApiError::validation(
            "userId 過長",
            format!("userId must be at most {max} characters (IVS allows 128 including the \"{prefix}\" prefix)"),
        ));
    }
    if user_id.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "userId 含有不允許的字元",
            "userId must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a viewer id in heartbeat/leave/duration requests (same bound as at join).
pub fn viewer_id(user_id_value: &str) -> Result<(), ApiError> {
    user_id(user_id_value, "viewer-")
}

/// Checks token attributes against IVS's 1 KB bound.
pub fn attributes(attrs: &Attributes) -> Result<(), ApiError> {
    let size: usize = attrs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > ATTRIBUTES_MAX_BYTES {
        return Err(ApiError::validation(
            "attributes 過大",
            format!("attributes must total at most {ATTRIBUTES_MAX_BYTES} bytes of keys and values (IVS's limit); got {size}"),
        ));
    }
    if attrs.keys().any(|k| k.is_empty()) {
        return Err(ApiError::validation(
            "attributes 格式錯誤",
            "attribute keys must not be empty",
        ));
    }
    Ok(())
}

/// Checks a stage name as IVS allows it: 1 to 128 of `[a-zA-Z0-9-_]`.
pub fn stage_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::missing("name"));
    }
    if !valid_stage_name(name) {
        return Err(ApiError::validation(
            "Stage 名稱格式錯誤",
            "name must be 1-128 characters of [a-zA-Z0-9-_]",
        ));
    }
    Ok(())
}

/// Checks user-supplied stage tags (IVS's rules; `aws:` keys are reserved).
pub fn tags(tags: &Tags) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS - 3 {
        return Err(ApiError::validation(
            "tags 過多",
            format!(
                "at most {} tags (the server adds 3 of IVS's 50)",
                MAX_TAGS - 3
            ),
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
            return Err(ApiError::validation(
                "tags 格式錯誤",
                "tag keys must be 1-128 characters (not starting with aws:), values at most 256",
            ));
        }
    }
    Ok(())
}

/// Parses a stage ARN from a request.
pub fn stage_arn(arn: &str) -> Result<StageArn, ApiError> {
    if arn.is_empty() {
        return Err(ApiError::missing("stageArn"));
    }
    arn.parse::<StageArn>()
        .map_err(|e| ApiError::validation("stageArn 格式錯誤", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_bounds_include_the_ivs_prefix() {
        assert!(user_id("a", "viewer-").is_ok());
        assert!(user_id(&"a".repeat(121), "viewer-").is_ok());
        assert!(user_id(&"a".repeat(122), "viewer-").is_err());
        assert!(user_id(&"a".repeat(117), "broadcaster-").is_err());
        assert!(user_id("", "viewer-").is_err());
        assert!(user_id("a\u{0}b", "viewer-").is_err());
    }

    #[test]
    fn attribute_bound_is_one_kilobyte() {
        let mut a = Attributes::new();
        a.insert("k".into(), "v".repeat(1023));
        assert!(attributes(&a).is_ok());
        a.insert("x".into(), "y".into());
        assert!(attributes(&a).is_err());
    }
}
