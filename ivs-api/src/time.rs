//! Timestamps as the API writes them.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, written on the wire as RFC 3339 with milliseconds and a
/// `Z` suffix (`2025-10-19T12:00:00.000Z`), as in the API's examples.
///
/// ```
/// use ivs_api::Timestamp;
/// let t: Timestamp = serde_json::from_str("\"2025-10-19T12:00:00.000Z\"").unwrap();
/// assert_eq!(serde_json::to_string(&t).unwrap(), "\"2025-10-19T12:00:00.000Z\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Timestamp(Utc::now())
    }

    /// Milliseconds since the Unix epoch.
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(DateTime::from_timestamp_millis(ms).unwrap_or_default())
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(&self) -> i64 {
        self.0.timestamp_millis()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Timestamp(value)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DateTime::<Utc>::deserialize(deserializer).map(Timestamp)
    }
}
