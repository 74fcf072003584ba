//! What can go wrong in the application, said in its own terms.
//!
//! The service knows nothing of HTTP: it returns a [`ServiceError`], and the
//! HTTP layer maps each kind to a status, an error code, the spec's message
//! and headers in one table (`http::error`). The sources (store, IVS) are
//! kept, so logs and callers see the whole chain.

use std::time::Duration;

use ivs_api::IdError;

use crate::ivs::IvsError;
use crate::store::StoreError;

/// A failed request, as the application sees it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A field of the request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The stage is not one this server manages.
    #[error("stage {arn} is not managed by this server")]
    StageNotManaged {
        /// The stage asked for.
        arn: String,
    },
    /// The stage is registered but IVS no longer has it.
    #[error("stage {arn} no longer exists in IVS")]
    StageGone {
        /// The stage asked for.
        arn: String,
    },
    /// The viewer is not counted on that stage (it left, expired or never joined).
    #[error("viewer {user_id} is not counted on stage {stage_arn}")]
    ViewerNotCounted {
        /// The viewer.
        user_id: String,
        /// The stage named in the request.
        stage_arn: String,
    },
    /// No watch record for the viewer on that stage.
    #[error("no watch record for viewer {user_id} on stage {stage_arn}")]
    NoWatchRecord {
        /// The viewer.
        user_id: String,
        /// The stage named in the request.
        stage_arn: String,
        /// How long records are kept after a viewer leaves.
        retention: Duration,
    },
    /// The master stage cannot be deleted.
    #[error("the master stage cannot be deleted")]
    MasterStageProtected,
    /// A stage with viewers cannot be deleted.
    #[error("the stage still has {viewers} viewers")]
    StageHasViewers {
        /// Viewers counted on it.
        viewers: u32,
    },
    /// The fleet has as many stages as it may have.
    #[error("the limit of {max_stages} stages is reached")]
    StageLimitReached {
        /// The configured limit.
        max_stages: u32,
        /// Whether every stage was also full (a viewer could not be placed).
        all_full: bool,
    },
    /// Every stage is full and no new one could be made in time.
    #[error("every stage is full")]
    StageFull,
    /// Another instance holds the stage-operation lease.
    #[error("another stage operation is in progress")]
    StageOperationBusy,
    /// The viewer store failed.
    #[error("viewer store")]
    Store(#[from] StoreError),
    /// IVS failed.
    #[error("IVS")]
    Ivs(#[from] IvsError),
    /// IVS (or the token signer) could not make a participant token.
    #[error("participant token generation failed")]
    Token(#[source] IvsError),
    /// A stage ARN the server holds (from the store or IVS) does not parse,
    /// so it cannot go into a response. Every ARN was checked on its way in:
    /// this is corrupt data, the server's fault.
    #[error("the stage ARN {arn:?} held by the server is not a stage ARN")]
    HeldArn {
        /// The ARN as held.
        arn: String,
        /// Why it does not parse.
        #[source]
        source: IdError,
    },
}

/// A stage ARN the server holds (ARNs stay `String`s below the service) as
/// the typed id a response carries; a failure is [`ServiceError::HeldArn`].
pub(crate) fn held_arn(arn: &str) -> Result<ivs_api::StageArn, ServiceError> {
    arn.parse().map_err(|source| ServiceError::HeldArn {
        arn: arn.to_owned(),
        source,
    })
}

impl From<IdError> for ServiceError {
    fn from(err: IdError) -> Self {
        ServiceError::Invalid(Invalid::Id(err))
    }
}

/// Which rule a request field breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// A user id or a stage ARN (checked while the request was read).
    #[error(transparent)]
    Id(#[from] IdError),
    /// `maxResults` outside its range.
    #[error("maxResults must be between 1 and {max}")]
    PageSize {
        /// The largest page.
        max: u32,
    },
    /// `maxResults` is not a number.
    #[error("maxResults must be a positive integer")]
    PageSizeNotANumber,
    /// A `nextToken` this server did not issue.
    #[error("nextToken is not one this server issued")]
    PageToken,
    /// Token attributes over IVS's 1 KB.
    #[error(
        "attributes must total at most {max} bytes of keys and values (IVS's limit); got {got}"
    )]
    AttributesTooLarge {
        /// The bound, bytes.
        max: usize,
        /// What the request carried.
        got: usize,
    },
    /// An attribute with an empty key.
    #[error("attribute keys must not be empty")]
    AttributeKeyEmpty,
    /// A stage name IVS would refuse.
    #[error("name must be 1-128 characters of [a-zA-Z0-9-_]")]
    StageName,
    /// A stage name is required.
    #[error("name is required")]
    StageNameMissing,
    /// More tags than IVS leaves after the server's own.
    #[error("at most {max} tags (the server adds 3 of IVS's 50)")]
    TooManyTags {
        /// The bound.
        max: usize,
    },
    /// A tag IVS would refuse.
    #[error("tag keys must be 1-128 characters (not starting with aws:), values at most 256")]
    Tag,
    /// Viewers do not choose their stage.
    #[error("viewers are assigned to a stage by the server; stageArn is not accepted")]
    ViewerStageArn,
}
