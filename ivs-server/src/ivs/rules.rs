//! IVS's own rules (limits, the shape of names, ids and tags) and the
//! conventions the server adds on top (its tags, the user-id prefixes), in one
//! place. The AWS backend, the emulator, request validation
//! (`service::validate`) and the service read them from here; the emulator
//! enforces IVS's rules the way IVS does. The rules of the ids callers send
//! (stage ARNs, user ids) are part of the wire model, `ivs_api`.

use std::time::Duration;

use ivs_api::Tags;
use rand::distr::{Alphanumeric, SampleString};

use super::IvsError;

// IVS's limits.

/// Longest IVS user id in a participant token, prefix included.
pub const MAX_USER_ID_LEN: usize = ivs_api::IVS_USER_ID_MAX;
/// Most bytes of a token's attributes, keys and values together.
pub const MAX_ATTRIBUTES_BYTES: usize = 1024;
/// Most tags on one stage.
pub const MAX_TAGS: usize = 50;
/// Longest tag key.
pub const MAX_TAG_KEY_LEN: usize = 128;
/// Longest tag value.
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// Tag keys IVS keeps for AWS.
pub const RESERVED_TAG_PREFIX: &str = "aws:";
/// Longest participant token lifetime, in minutes (14 days).
pub const MAX_TOKEN_MINUTES: u64 = 20_160;
/// Longest stage name.
pub const MAX_STAGE_NAME_LEN: usize = 128;
/// Largest page of ListStages and ListParticipants.
pub const MAX_PAGE_SIZE: i32 = 100;
/// Concurrent replications of one participant into other stages.
pub const MAX_REPLICAS: usize = 5;

// The server's tags and names.

/// A stage tag: key and value.
pub type Tag = (&'static str, &'static str);

/// Marks the stages this server manages.
pub const MANAGED_BY: Tag = ("ManagedBy", "api-server");
/// Marks the master stage.
pub const ROLE_MASTER: Tag = ("Role", "master");
/// Marks a stage created to absorb viewers.
pub const AUTO_SCALED: Tag = ("AutoScaled", "true");
/// Names the deployment that created a stage: leftovers are adopted or
/// deleted only when it names this one, so two deployments in one AWS
/// account never touch each other's stages.
pub const DEPLOYMENT_TAG: &str = "Deployment";
/// Names the environment (`IVS_ENVIRONMENT`) of the server that created a stage.
pub const ENVIRONMENT_TAG: &str = "Environment";
/// The tag keys the server puts on every stage it creates: a request's own
/// tags may use the rest of IVS's [`MAX_TAGS`].
pub const SERVER_TAG_KEYS: [&str; 3] = [ENVIRONMENT_TAG, MANAGED_BY.0, DEPLOYMENT_TAG];
/// Most tags a create-stage request may carry.
pub const MAX_REQUEST_TAGS: usize = MAX_TAGS - SERVER_TAG_KEYS.len();
/// The name of an auto-scaled stage is this followed by its creation time (ms).
pub const AUTO_STAGE_PREFIX: &str = "auto-stage-";
/// A viewer's IVS user id is this followed by its API `userId`.
pub const VIEWER_PREFIX: &str = ivs_api::VIEWER_PREFIX;
/// The publisher's IVS user id is this followed by its API `userId`; the AWS
/// backend also recognises the server's own publishers by it.
pub const PUBLISHER_PREFIX: &str = ivs_api::PUBLISHER_PREFIX;

// Ids.

/// Length of the ids IVS gives stages, participants and sessions, and of the
/// participant ids the server draws itself.
pub const ID_LEN: usize = 12;
/// IVS's session ids are this followed by an id.
pub const SESSION_ID_PREFIX: &str = "st-";

/// The ARN of a public key in IVS's format; the emulator names its signing
/// keys this way (the `kid` of its tokens).
pub fn public_key_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:ivs:{region}:{account}:public-key/{id}")
}

/// A random id of `len` ASCII letters and digits (IVS's alphabet for ids).
pub fn random_id(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// Whether `tags` has tag `(key, value)`.
pub fn has_tag(tags: &Tags, (key, value): Tag) -> bool {
    tags.get(key).is_some_and(|v| v == value)
}

/// Whether IVS accepts this stage name: up to 128 of `[a-zA-Z0-9-_]` (a
/// stage may have no name).
pub fn valid_stage_name(name: &str) -> bool {
    name.len() <= MAX_STAGE_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether IVS accepts this tag: a key of 1 to 128 characters not starting
/// with `aws:`, a value of at most 256.
pub fn valid_tag(key: &str, value: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_TAG_KEY_LEN
        && value.len() <= MAX_TAG_VALUE_LEN
        && !key.starts_with(RESERVED_TAG_PREFIX)
}

/// The lifetime IVS is asked for, in whole minutes rounded up, when it is
/// one IVS accepts (1 minute to 14 days).
pub fn token_minutes(duration: Duration) -> Result<u64, IvsError> {
    let minutes = duration.as_secs().div_ceil(60);
    if !(1..=MAX_TOKEN_MINUTES).contains(&minutes) {
        return Err(IvsError::Validation(format!(
            "token duration must be 1-{MAX_TOKEN_MINUTES} minutes"
        )));
    }
    Ok(minutes)
}

/// Refuses an IVS user id longer than IVS allows.
pub fn check_user_id(user_id: &str) -> Result<(), IvsError> {
    if user_id.len() > MAX_USER_ID_LEN {
        return Err(IvsError::Validation(format!(
            "userId longer than {MAX_USER_ID_LEN}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_round_up_to_whole_minutes_within_ivs_bounds() {
        assert_eq!(token_minutes(Duration::from_secs(1)).unwrap(), 1);
        assert_eq!(token_minutes(Duration::from_secs(61)).unwrap(), 2);
        assert_eq!(
            token_minutes(Duration::from_secs(20_160 * 60)).unwrap(),
            20_160
        );
        assert!(token_minutes(Duration::ZERO).is_err());
        assert!(token_minutes(Duration::from_secs(20_160 * 60 + 1)).is_err());
    }

    #[test]
    fn user_ids_are_bounded_with_their_prefix() {
        assert!(check_user_id(&format!("{VIEWER_PREFIX}{}", "a".repeat(121))).is_ok());
        assert!(check_user_id(&format!("{VIEWER_PREFIX}{}", "a".repeat(122))).is_err());
        assert!(check_user_id(&format!("{PUBLISHER_PREFIX}{}", "a".repeat(116))).is_ok());
        assert!(check_user_id(&format!("{PUBLISHER_PREFIX}{}", "a".repeat(117))).is_err());
    }

    #[test]
    fn names_ids_and_tags_follow_ivs() {
        assert!(valid_stage_name(""));
        assert!(valid_stage_name("auto-stage_1"));
        assert!(!valid_stage_name("a b"));
        assert!(!valid_stage_name(&"a".repeat(129)));
        assert!(valid_tag("k", &"v".repeat(256)));
        assert!(!valid_tag("", "v"));
        assert!(!valid_tag(&"k".repeat(129), "v"));
        assert!(!valid_tag("k", &"v".repeat(257)));
        assert!(!valid_tag("aws:cloudformation", "v"));
    }

    #[test]
    fn ids_have_the_ivs_shape() {
        let id = random_id(ID_LEN);
        assert_eq!(id.len(), ID_LEN);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_id(ID_LEN), id);
    }

    #[test]
    fn tags_match_key_and_value() {
        let mut tags = Tags::new();
        tags.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        tags.insert(ROLE_MASTER.0.into(), "other".into());
        assert!(has_tag(&tags, MANAGED_BY));
        assert!(!has_tag(&tags, ROLE_MASTER));
        assert!(!has_tag(&tags, AUTO_SCALED));
    }
}
