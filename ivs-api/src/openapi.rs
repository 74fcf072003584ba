//! OpenAPI schemas for the types whose JSON is a string with rules of its
//! own (feature `openapi`). The structs derive theirs; these are written by
//! hand because the rules live in parsing code a derive cannot see, so each
//! schema takes its bounds from the same constants the parser uses.

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::stats::StageStatsDetailWire;
use crate::{ErrorCode, StageArn, StageStatsDetail, Timestamp, UserId, STAGE_ARN_MAX};

/// The spec's example stage ARN.
const EXAMPLE_ARN: &str = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8";

/// No control character (C0, DEL, C1), as [`UserId`] checks with `char::is_control`.
const NO_CONTROL_CHARACTERS: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// A string that may only be one of `values`.
fn one_of(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
}

/// An object of string values.
fn string_map() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
}

/// Schemas for fields whose Rust type says less than the wire does (a
/// `String` that is one of a few words, a `bool` that is always `true`).
/// A field names one with `value_type`: it becomes a `$ref` to a component,
/// and the field's doc comment stays its description.
macro_rules! field_schemas {
    ($($(#[$doc:meta])* $name:ident => $schema:expr;)*) => {
        $(
            $(#[$doc])*
            pub(crate) struct $name;

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    $schema.into()
                }
            }

            impl ToSchema for $name {}
        )*
    };
}

field_schemas! {
    /// `Health.status`.
    HealthStatus => one_of(&["ok", "degraded"]);
    /// `HealthServices.redis`.
    RedisState => one_of(&["embedded", "connected", "disconnected"]);
    /// `HealthServices.ivs`.
    IvsState => one_of(&["local", "ready", "unreachable"]);
    /// `ViewerStats.calculatedFrom`.
    CalculatedFrom => one_of(&["real-time sum"]);
    /// A boolean that is always `true` (`isMaster`, `DeletedStage.success`).
    AlwaysTrue => ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]));
    /// A stage name: 1 to 128 of `[a-zA-Z0-9-_]`.
    StageName => ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[a-zA-Z0-9_-]{1,128}$"));
    /// Stage tags (`crate::Tags`).
    Tags => string_map()
        .description(Some("Stage tags: string values."));
    /// Participant attributes (`crate::Attributes`).
    Attributes => string_map().description(Some(
        "Custom participant attributes: string values only, keys non-empty, keys and values \
         together at most 1024 bytes (IVS's limit).",
    ));
    /// The extra tags of `POST /api/stage`: IVS allows 50 tags, the server
    /// adds up to 3 of its own.
    ExtraTags => ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(256)),
        ))
        .max_properties(Some(47))
        .description(Some(
            "At most 47 (IVS allows 50, the server adds its own); keys 1-128 characters not \
             starting with `aws:`, values at most 256.",
        ));
}

impl PartialSchema for UserId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "A caller's id for a viewer or a publisher: 1 to {} bytes of UTF-8 ({} for a \
                 publisher; IVS allows {} including the server's `viewer-` or `broadcaster-` \
                 prefix), no control characters. `maxLength` counts characters, the server \
                 counts bytes.",
                UserId::MAX_LEN,
                UserId::MAX_PUBLISHER_LEN,
                crate::IVS_USER_ID_MAX
            )))
            .min_length(Some(1))
            .max_length(Some(UserId::MAX_LEN))
            .pattern(Some(NO_CONTROL_CHARACTERS))
            .examples(["viewer-001"])
            .into()
    }
}

impl ToSchema for UserId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("UserId")
    }
}

impl PartialSchema for StageArn {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "A stage ARN: `arn:aws:ivs:<region>:<12-digit account>:stage/<id>`, id 1-{} of \
                 `[a-zA-Z0-9-]`.",
                crate::STAGE_ID_MAX
            )))
            .pattern(Some(format!(
                "^arn:(aws|aws-cn|aws-us-gov):ivs:[a-z0-9-]{{1,32}}:[0-9]{{12}}:stage/[a-zA-Z0-9-]{{1,{}}}$",
                crate::STAGE_ID_MAX
            )))
            .max_length(Some(STAGE_ARN_MAX))
            .examples([EXAMPLE_ARN])
            .into()
    }
}

impl ToSchema for StageArn {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StageArn")
    }
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(
                "RFC 3339, UTC, with milliseconds (`2025-10-19T12:00:00.000Z`).",
            ))
            .examples(["2025-10-19T12:00:00.000Z"])
            .into()
    }
}

impl ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

// `StageStatsDetail` is flat in Rust and nested on the wire: its schema is
// its wire struct's, under its own name.
impl PartialSchema for StageStatsDetail {
    fn schema() -> RefOr<Schema> {
        StageStatsDetailWire::schema()
    }
}

impl ToSchema for StageStatsDetail {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StageStatsDetail")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        StageStatsDetailWire::schemas(schemas);
    }
}

/// Every code the server sends (not [`ErrorCode::Other`], a client's
/// catch-all for codes of a newer server). A variant added to [`ErrorCode`]
/// belongs here too.
const ERROR_CODES: [ErrorCode; 10] = [
    ErrorCode::ValidationError,
    ErrorCode::Unauthorized,
    ErrorCode::Forbidden,
    ErrorCode::NotFound,
    ErrorCode::TooManyRequests,
    ErrorCode::StageFull,
    ErrorCode::StageLimitReached,
    ErrorCode::TokenGenerationFailed,
    ErrorCode::InternalError,
    ErrorCode::ServiceUnavailable,
];

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        let codes: Vec<&str> = ERROR_CODES.iter().map(ErrorCode::as_str).collect();
        one_of(&codes)
            .description(Some("Machine-readable error code."))
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn the_error_code_enum_lists_every_code_once() {
        let codes = json::<ErrorCode>()["enum"].clone();
        let codes: Vec<&str> = codes
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert!(!matches!(code.parse(), Ok(ErrorCode::Other(_))), "{code}");
        }
    }

    #[test]
    fn the_id_schemas_take_their_bounds_from_the_parser() {
        let user = json::<UserId>();
        assert_eq!(user["maxLength"], UserId::MAX_LEN);
        let arn = json::<StageArn>();
        assert_eq!(arn["maxLength"], STAGE_ARN_MAX);
        let pattern = arn["pattern"].as_str().unwrap();
        assert!(pattern.ends_with("{1,128}$"), "{pattern}");
    }
}
