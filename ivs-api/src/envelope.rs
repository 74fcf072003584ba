//! The success envelope around most response bodies.

use serde::{Deserialize, Serialize};

/// The success envelope: `{"success": true, "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Always `true` for a success body.
    pub success: bool,
    /// The payload.
    pub data: T,
}

impl<T> Envelope<T> {
    /// Wraps a payload in a success envelope.
    pub fn ok(data: T) -> Self {
        Envelope {
            success: true,
            data,
        }
    }
}
