//! One handle per API area, borrowed from a [`Client`](crate::Client):
//! `client.tokens()`, `client.stages()`, `client.viewers()`, `client.stats()`.

mod stages;
mod stats;
mod tokens;
mod viewers;

pub use stages::{ListStages, StageListStream, StagesApi};
pub use stats::StatsApi;
pub use tokens::TokensApi;
pub use viewers::ViewersApi;

use crate::client::encode_segment;
use crate::model::StageArn;

/// `prefix` followed by the percent-encoded ARN (its `:` and `/` escaped).
fn stage_path(prefix: &str, stage_arn: &StageArn) -> String {
    format!("{prefix}{}", encode_segment(stage_arn.as_str()))
}
