//! Participant tokens: `POST /api/token/publisher` and `POST /api/token/viewer`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{StageArn, Timestamp, UserId};

/// Free-form participant attributes (IVS allows string values only, 1 KB in all).
pub type Attributes = BTreeMap<String, String>;

/// What a participant token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Capability {
    /// Send audio and video to the stage.
    Publish,
    /// Receive the stage's media.
    Subscribe,
}

/// Body of `POST /api/token/publisher` and `POST /api/token/viewer`.
///
/// The [`UserId`] is checked when it is made (1 to [`UserId::MAX_LEN`] = 121
/// bytes); a publisher's may have at most [`UserId::MAX_PUBLISHER_LEN`] = 116,
/// because the server sends IVS `broadcaster-<userId>` and IVS allows 128
/// bytes in all (`viewer-<userId>` for a viewer).
///
/// ```
/// use ivs_api::{Attributes, StageArn, TokenRequest, UserId};
/// let stage: StageArn = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8".parse()?;
/// let request = TokenRequest::new(UserId::new("host-1")?)
///     .with_attributes(Attributes::from([("role".into(), "host".into())]))
///     .with_stage_arn(stage);
/// assert_eq!(request.user_id, "host-1");
/// # Ok::<(), ivs_api::IdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// The schema says what the doc says, without its Rust example.
#[cfg_attr(
    feature = "openapi",
    schema(description = "Body of `POST /api/token/publisher` and `POST /api/token/viewer`.")
)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TokenRequest {
    /// The caller's unique id (see [`UserId`] for its bounds: 121 bytes for a
    /// viewer, 116 for a publisher).
    pub user_id: UserId,
    /// Custom attributes carried in the token (string values, 1 KB in all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Attributes>))]
    pub attributes: Option<Attributes>,
    /// Publisher only: the stage to publish to (default: the master stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_arn: Option<StageArn>,
}

impl TokenRequest {
    /// A request for `user_id` with no attributes.
    pub fn new(user_id: UserId) -> Self {
        TokenRequest {
            user_id,
            attributes: None,
            stage_arn: None,
        }
    }

    /// Adds custom attributes.
    pub fn with_attributes(mut self, attributes: Attributes) -> Self {
        self.attributes = Some(attributes);
        self
    }

    /// Publisher only: publish to this managed stage instead of the master
    /// stage (a viewer request with a stage is refused: the server assigns
    /// viewers).
    pub fn with_stage_arn(mut self, stage_arn: StageArn) -> Self {
        self.stage_arn = Some(stage_arn);
        self
    }
}

/// Response data of `POST /api/token/publisher`.
///
/// Its `Debug` output leaves the token out: tokens must not reach logs.
#[derive(Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct PublisherToken {
    /// The IVS participant token (a JWT); hand it to the IVS broadcast SDK.
    pub token: String,
    /// The IVS participant id.
    pub participant_id: String,
    /// The stage to publish to.
    pub stage_arn: StageArn,
    /// The IVS user id: `"broadcaster-" + userId`, at most 128 bytes (IVS's
    /// participant user id, not the caller's `userId`: a plain string).
    pub user_id: String,
    /// When the token expires.
    pub expires_at: Timestamp,
    /// `["PUBLISH"]`.
    #[builder(default = vec![Capability::Publish])]
    pub capabilities: Vec<Capability>,
    /// The attributes carried in the token.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Attributes))]
    #[builder(default)]
    pub attributes: Attributes,
}

/// Response data of `POST /api/token/viewer`.
///
/// Its `Debug` output leaves the token out: tokens must not reach logs.
///
/// A test of your own can make one with its builder (fields left out take
/// their defaults: `capabilities` `["SUBSCRIBE"]`, no attributes):
///
/// ```
/// use ivs_api::{Timestamp, UserId, ViewerToken};
/// let token = ViewerToken::builder()
///     .token("eyJhbGciOiJFUzM4NCJ9.test")
///     .participant_id("p1")
///     .stage_arn("arn:aws:ivs:us-east-1:123456789012:stage/abcdefABCDEF".parse()?)
///     .user_id("viewer-viewer-001")
///     .expires_at(Timestamp::from_millis(1_760_875_200_000))
///     .viewer_count(42)
///     .build();
/// assert_eq!(token.viewer_count, 42);
/// assert_eq!(token.stage_arn.id(), "abcdefABCDEF");
/// # Ok::<(), ivs_api::IdError>(())
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// The schema says what the doc says, without its Rust example.
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "Response data of `POST /api/token/viewer`.\n\nIts `Debug` output \
        leaves the token out: tokens must not reach logs."
    )
)]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct ViewerToken {
    /// The IVS participant token (a JWT); hand it to the IVS player.
    pub token: String,
    /// The IVS participant id.
    pub participant_id: String,
    /// The stage the viewer was assigned to.
    pub stage_arn: StageArn,
    /// The IVS user id: `"viewer-" + userId`, at most 128 bytes (IVS's
    /// participant user id, not the caller's `userId`: a plain string).
    pub user_id: String,
    /// When the token expires.
    pub expires_at: Timestamp,
    /// `["SUBSCRIBE"]`.
    #[builder(default = vec![Capability::Subscribe])]
    pub capabilities: Vec<Capability>,
    /// Viewers on the assigned stage, this one included.
    #[serde(rename = "currentViewers")]
    pub viewer_count: u32,
    /// The attributes carried in the token.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Attributes))]
    #[builder(default)]
    pub attributes: Attributes,
}

/// `Debug` for a token answer that leaves the token itself out.
macro_rules! debug_without_token {
    ($t:ident { $($field:ident),* $(,)? }) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("token", &"<redacted>")
                    $(.field(stringify!($field), &self.$field))*
                    .finish()
            }
        }
    };
}

debug_without_token!(PublisherToken {
    participant_id,
    stage_arn,
    user_id,
    expires_at,
    capabilities,
    attributes,
});
debug_without_token!(ViewerToken {
    participant_id,
    stage_arn,
    user_id,
    expires_at,
    capabilities,
    viewer_count,
    attributes,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let token = ViewerToken::builder()
            .token("eyJhbGciOiJFUzM4NCJ9.secret")
            .participant_id("p1")
            .stage_arn(
                "arn:aws:ivs:us-east-1:123456789012:stage/a"
                    .parse()
                    .unwrap(),
            )
            .user_id("viewer-u")
            .expires_at(Timestamp::from_millis(0))
            .viewer_count(1)
            .build();
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("viewer_count: 1"), "{shown}");
    }
}
