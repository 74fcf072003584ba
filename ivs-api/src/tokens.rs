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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
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
}

/// Response data of `POST /api/token/publisher`.
///
/// Its `Debug` output leaves the token out: tokens must not reach logs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublisherToken {
    /// The IVS participant token (a JWT); hand it to the IVS broadcast SDK.
    pub token: String,
    /// The IVS participant id.
    pub participant_id: String,
    /// The stage to publish to.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::StageArn))]
    pub stage_arn: String,
    /// The IVS user id: `"broadcaster-" + userId`.
    pub user_id: String,
    /// When the token expires.
    pub expires_at: Timestamp,
    /// `["PUBLISH"]`.
    pub capabilities: Vec<Capability>,
    /// The attributes carried in the token.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Attributes))]
    pub attributes: Attributes,
}

/// Response data of `POST /api/token/viewer`.
///
/// Its `Debug` output leaves the token out: tokens must not reach logs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ViewerToken {
    /// The IVS participant token (a JWT); hand it to the IVS player.
    pub token: String,
    /// The IVS participant id.
    pub participant_id: String,
    /// The stage the viewer was assigned to.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::StageArn))]
    pub stage_arn: String,
    /// The IVS user id: `"viewer-" + userId`.
    pub user_id: String,
    /// When the token expires.
    pub expires_at: Timestamp,
    /// `["SUBSCRIBE"]`.
    pub capabilities: Vec<Capability>,
    /// Viewers on the assigned stage, this one included.
    pub current_viewers: u32,
    /// The attributes carried in the token.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Attributes))]
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
    current_viewers,
    attributes,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let token = ViewerToken {
            token: "eyJhbGciOiJFUzM4NCJ9.secret".into(),
            participant_id: "p1".into(),
            stage_arn: "arn:aws:ivs:us-east-1:123456789012:stage/a".into(),
            user_id: "viewer-u".into(),
            expires_at: Timestamp::from_millis(0),
            capabilities: vec![Capability::Subscribe],
            current_viewers: 1,
            attributes: Attributes::new(),
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("current_viewers: 1"), "{shown}");
    }
}
