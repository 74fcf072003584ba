//! One handle per API area, borrowed from a [`Client`](crate::Client):
//! `client.tokens()`, `client.stages()`, `client.viewers()`, `client.stats()`.

mod stages;
mod stats;
mod tokens;
mod viewers;

pub use stages::StagesApi;
pub use stats::StatsApi;
pub use tokens::TokensApi;
pub use viewers::ViewersApi;
