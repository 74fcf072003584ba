//! Validated identifiers: a [`StageArn`] or a [`UserId`] that exists has
//! passed the API's rules, so nothing downstream checks it again.
//!
//! Both parse with [`FromStr`] and validate while being deserialised: a body
//! with a malformed id fails as a whole, before any handler runs.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// IVS's bound on a participant's user id, prefix included.
pub const IVS_USER_ID_MAX: usize = 128;
/// A viewer's IVS user id is this followed by its API `userId`.
pub const VIEWER_PREFIX: &str = "viewer-";
/// The publisher's IVS user id is this followed by its API `userId`.
pub const PUBLISHER_PREFIX: &str = "broadcaster-";
/// IVS's bound on a stage resource id.
pub const STAGE_ID_MAX: usize = 128;
/// The longest ARN accepted (well above any real one; bounds the work of parsing).
pub const STAGE_ARN_MAX: usize = 256;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The id is empty.
    Empty {
        /// The API's name for the field (`userId`, `stageArn`).
        field: &'static str,
    },
    /// The user id is longer than [`UserId::MAX_LEN`] bytes.
    TooLong {
        /// The largest length allowed, in bytes.
        max: usize,
    },
    /// The user id contains a control character.
    ControlCharacter,
    /// The text is not a stage ARN; says which part is wrong.
    NotAStageArn(&'static str),
}

impl IdError {
    /// The API field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            IdError::Empty { field } => field,
            IdError::TooLong { .. } | IdError::ControlCharacter => "userId",
            IdError::NotAStageArn(_) => "stageArn",
        }
    }
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty { field } => write!(f, "{field} is required"),
            IdError::TooLong { max } => write!(
                f,
                "userId is too long: at most {max} bytes (IVS allows {IVS_USER_ID_MAX} including the server's prefix)"
            ),
            IdError::ControlCharacter => f.write_str("userId contains a control character"),
            IdError::NotAStageArn(why) => write!(
                f,
                "stageArn is not a stage ARN (arn:aws:ivs:<region>:<account>:stage/<id>): {why}"
            ),
        }
    }
}

impl std::error::Error for IdError {}

/// Turns an id error into serde's: an empty id reads as a missing field, as
/// the API reports both the same way.
fn de_error<E: de::Error>(e: IdError) -> E {
    match e {
        IdError::Empty { field } => E::missing_field(field),
        other => E::custom(other),
    }
}

/// The id a caller chose for a viewer or a publisher (`userId`).
///
/// 1 to [`UserId::MAX_LEN`] bytes of UTF-8, no control characters. The
/// server sends it to IVS as `viewer-<userId>` or `broadcaster-<userId>`, and
/// IVS allows 128 bytes in all: so a viewer id may have up to 121 bytes and a
/// publisher id up to [`UserId::MAX_PUBLISHER_LEN`] (116).
///
/// ```
/// use ivs_api::UserId;
/// let id: UserId = "viewer-001".parse()?;
/// assert_eq!(id.as_str(), "viewer-001");
/// assert!("".parse::<UserId>().is_err());
/// assert!("a".repeat(122).parse::<UserId>().is_err());
/// # Ok::<(), ivs_api::IdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    /// The longest id, in bytes: 128 minus the 7 bytes of `viewer-`.
    pub const MAX_LEN: usize = IVS_USER_ID_MAX - VIEWER_PREFIX.len();
    /// The longest publisher id, in bytes: 128 minus the 12 bytes of `broadcaster-`.
    pub const MAX_PUBLISHER_LEN: usize = IVS_USER_ID_MAX - PUBLISHER_PREFIX.len();

    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(IdError::Empty { field: "userId" });
        }
        if id.len() > Self::MAX_LEN {
            return Err(IdError::TooLong { max: Self::MAX_LEN });
        }
        if id.chars().any(char::is_control) {
            return Err(IdError::ControlCharacter);
        }
        Ok(UserId(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether the id also fits a publisher (at most [`Self::MAX_PUBLISHER_LEN`] bytes).
    pub fn fits_publisher(&self) -> Result<(), IdError> {
        if self.0.len() > Self::MAX_PUBLISHER_LEN {
            return Err(IdError::TooLong {
                max: Self::MAX_PUBLISHER_LEN,
            });
        }
        Ok(())
    }
}

/// The parts of a stage ARN: `arn:<partition>:ivs:<region>:<account>:stage/<id>`.
///
/// Kept as the text it was parsed from plus where its region is (the
/// account's 12 digits and the id follow at fixed distances), so that
/// reading it back (`as_str`, `Display`, serialising) costs nothing and it
/// is hardly larger than a `String` (responses and sessions carry it).
///
/// ```
/// use ivs_api::StageArn;
/// let arn: StageArn = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8".parse()?;
/// assert_eq!(arn.id(), "sWyAydfRqqF8");
/// assert_eq!(arn.region(), "ap-northeast-1");
/// assert_eq!(arn.account(), "125371974421");
/// assert!("arn:aws:ivs:ap-northeast-1:125371974421:channel/x".parse::<StageArn>().is_err());
/// # Ok::<(), ivs_api::IdError>(())
/// ```
#[derive(Clone)]
pub struct StageArn {
    text: String,
    // At most 4 + 10 + 5 and that + 32: see `parse_arn`.
    region_start: u8,
    region_end: u8,
}

/// The account's length, and what lies between it and the id (`:stage/`).
const ACCOUNT_LEN: usize = 12;
const BEFORE_ID: usize = ":stage/".len();

impl StageArn {
    /// A stage ARN in the `aws` partition from its parts, validated like a parsed one.
    pub fn new(region: &str, account: &str, id: &str) -> Result<Self, IdError> {
        format!("arn:aws:ivs:{region}:{account}:stage/{id}").parse()
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The stage id (the IVS `topic` claim).
    pub fn id(&self) -> &str {
        &self.text[self.account_start() + ACCOUNT_LEN + BEFORE_ID..]
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.text[usize::from(self.region_start)..usize::from(self.region_end)]
    }

    /// The account.
    pub fn account(&self) -> &str {
        let start = self.account_start();
        &self.text[start..start + ACCOUNT_LEN]
    }

    /// The ARN, as an owned string.
    pub fn into_string(self) -> String {
        self.text
    }

    fn account_start(&self) -> usize {
        usize::from(self.region_end) + 1
    }
}

fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks `s`; returns where its region starts and ends.
fn parse_arn(s: &str) -> Result<(u8, u8), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { field: "stageArn" });
    }
    if s.len() > STAGE_ARN_MAX {
        return Err(IdError::NotAStageArn("too long"));
    }
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("ivs"), Some(region), Some(account), Some(res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(IdError::NotAStageArn(
            "expected arn:<partition>:ivs:<region>:<account>:stage/<id>",
        ));
    };
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        return Err(IdError::NotAStageArn("unknown partition"));
    }
    if !is_region(region) {
        return Err(IdError::NotAStageArn("bad region"));
    }
    if account.len() != ACCOUNT_LEN || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::NotAStageArn("account must be 12 digits"));
    }
    let id = res
        .strip_prefix("stage/")
        .ok_or(IdError::NotAStageArn("resource must be stage/<id>"))?;
    if id.is_empty()
        || id.len() > STAGE_ID_MAX
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(IdError::NotAStageArn(
            "stage id must be 1-128 of [a-zA-Z0-9-]",
        ));
    }
    // "arn:" + partition (at most 10 bytes) + ":ivs:" precede the region
    // (at most 32): both ends fit a byte.
    let region_start = "arn:".len() + partition.len() + ":ivs:".len();
    let region_end = region_start + region.len();
    match (u8::try_from(region_start), u8::try_from(region_end)) {
        (Ok(start), Ok(end)) => Ok((start, end)),
        _ => Err(IdError::NotAStageArn("bad region")),
    }
}

impl FromStr for StageArn {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (region_start, region_end) = parse_arn(s)?;
        Ok(StageArn {
            text: s.to_owned(),
            region_start,
            region_end,
        })
    }
}

impl TryFrom<String> for StageArn {
    type Error = IdError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let (region_start, region_end) = parse_arn(&text)?;
        Ok(StageArn {
            text,
            region_start,
            region_end,
        })
    }
}

impl FromStr for UserId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UserId::new(s)
    }
}

impl TryFrom<String> for UserId {
    type Error = IdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        UserId::new(s)
    }
}

// Equality, ordering and hashing follow the text: the parts are derived from it.
impl PartialEq for StageArn {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for StageArn {}
impl std::hash::Hash for StageArn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}
impl PartialOrd for StageArn {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for StageArn {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Debug for StageArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

macro_rules! text_id {
    ($t:ty) => {
        // `pad`, not `write_str`: width and alignment (`{:<40}`) work as
        // they do for the string the id replaced in tables and logs.
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<String> for $t {
            fn eq(&self, other: &String) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl From<$t> for String {
            fn from(id: $t) -> String {
                id.into_string()
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$t>::try_from(text).map_err(de_error)
            }
        }
    };
}

text_id!(UserId);
text_id!(StageArn);

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8";

    #[test]
    fn parses_the_spec_example_and_reads_back_its_parts() {
        let arn: StageArn = EXAMPLE.parse().unwrap();
        assert_eq!(arn.id(), "sWyAydfRqqF8");
        assert_eq!(arn.region(), "ap-northeast-1");
        assert_eq!(arn.account(), "125371974421");
        assert_eq!(arn.to_string(), EXAMPLE);
        let gov: StageArn = "arn:aws-us-gov:ivs:us-gov-west-1:125371974421:stage/x"
            .parse()
            .unwrap();
        assert_eq!(
            (gov.region(), gov.account(), gov.id()),
            ("us-gov-west-1", "125371974421", "x")
        );
        assert_eq!(
            StageArn::new("ap-northeast-1", "125371974421", "sWyAydfRqqF8").unwrap(),
            arn
        );
    }

    #[test]
    fn a_stage_arn_is_little_more_than_its_text() {
        assert!(std::mem::size_of::<StageArn>() <= 32);
        // The longest partition and region still read back.
        let region = "a".repeat(32);
        let arn: StageArn = format!("arn:aws-us-gov:ivs:{region}:125371974421:stage/x-1")
            .parse()
            .unwrap();
        assert_eq!(
            (arn.region(), arn.account(), arn.id()),
            (region.as_str(), "125371974421", "x-1")
        );
    }

    #[test]
    fn rejects_malformed_arns() {
        for bad in [
            "arn",
            "arn:aws:ivs:ap-northeast-1:125371974421:stage/",
            "arn:aws:ivs:ap-northeast-1:125371974421:channel/abc",
            "arn:aws:s3:ap-northeast-1:125371974421:stage/abc",
            "arn:aws:ivs:ap-northeast-1:12537197442:stage/abc",
            "arn:aws:ivs:AP:125371974421:stage/abc",
            "arn:aws:ivs:ap-northeast-1:125371974421:stage/a/b",
            "arn:aws:ivs:ap-northeast-1:125371974421:stage/a b",
            "arn:evil:ivs:ap-northeast-1:125371974421:stage/abc",
        ] {
            assert!(
                matches!(bad.parse::<StageArn>(), Err(IdError::NotAStageArn(_))),
                "{bad:?} parsed"
            );
        }
        assert_eq!(
            "".parse::<StageArn>(),
            Err(IdError::Empty { field: "stageArn" })
        );
        let long = format!(
            "arn:aws:ivs:us-east-1:125371974421:stage/{}",
            "a".repeat(129)
        );
        assert!(long.parse::<StageArn>().is_err());
    }

    #[test]
    fn user_id_bounds_leave_room_for_the_ivs_prefix() {
        assert!(UserId::new("a").is_ok());
        assert!(UserId::new("a".repeat(121)).is_ok());
        assert_eq!(
            UserId::new("a".repeat(122)),
            Err(IdError::TooLong { max: 121 })
        );
        // Bytes, not characters: IVS counts the encoded id.
        assert!(UserId::new("é".repeat(61)).is_err());
        assert_eq!(UserId::new(""), Err(IdError::Empty { field: "userId" }));
        assert_eq!(UserId::new("a\u{0}b"), Err(IdError::ControlCharacter));
        assert!(UserId::new("a".repeat(116))
            .unwrap()
            .fits_publisher()
            .is_ok());
        assert!(UserId::new("a".repeat(117))
            .unwrap()
            .fits_publisher()
            .is_err());
    }

    #[test]
    fn ids_validate_while_deserialising() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        struct Body {
            user_id: UserId,
            stage_arn: StageArn,
        }
        let ok: Body =
            serde_json::from_str(&format!(r#"{{"userId":"u1","stageArn":"{EXAMPLE}"}}"#)).unwrap();
        assert_eq!(ok.stage_arn.id(), "sWyAydfRqqF8");
        let empty =
            serde_json::from_str::<Body>(&format!(r#"{{"userId":"","stageArn":"{EXAMPLE}"}}"#))
                .unwrap_err();
        assert!(
            empty.to_string().starts_with("missing field `userId`"),
            "{empty}"
        );
        let bad =
            serde_json::from_str::<Body>(r#"{"userId":"u","stageArn":"arn:nope"}"#).unwrap_err();
        assert!(
            bad.to_string().starts_with("stageArn is not a stage ARN"),
            "{bad}"
        );
        let arn: StageArn = serde_json::from_str(&format!("\"{EXAMPLE}\"")).unwrap();
        assert_eq!(
            serde_json::to_string(&arn).unwrap(),
            format!("\"{EXAMPLE}\"")
        );
    }
}
