//! Webhooks out, following the Standard Webhooks specification
//! (docs/webhooks.md).
//!
//! The store records every fleet event in its event log in the same step as
//! the change (`store::events`). Delivery reads that log through one consumer
//! group per endpoint, so the outbox is durable (with Redis) and shared by the
//! fleet: each event goes to each endpoint once, whichever instance reads it,
//! and an event an instance took and did not acknowledge (a failure, a crash)
//! is taken over by any instance once it has been idle long enough.
//!
//! - `settings`: parsing and checking `IVS_WEBHOOK_*`;
//! - `sign`: the `webhook-signature` header;
//! - `schedule`: retry delays and the retry window;
//! - `answer`: what a receiver's answer asks (pauses for 410, 429, …);
//! - `deliver`: the per-endpoint delivery loop;
//! - `thread`: the lower-priority thread delivery runs on.
//!
//! Nothing on the request path waits for delivery: a request only records
//! its event in the store step it makes anyway.

pub mod answer;
pub mod deliver;
pub mod schedule;
pub mod settings;
pub mod sign;
pub mod thread;

pub use deliver::{create_groups, run, Endpoint};
pub use thread::start;
