//! The key layout of a deployment (documented in `docs/redis.md`): every key
//! starts with the deployment's prefix as a Redis Cluster hash tag, and every
//! script receives the same fixed keys first.

use crate::store::{StoreError, StoreResult};

/// The names after the hash tag of the keys every script receives, in the
/// order `prelude.lua` reads them.
pub(super) const FIXED_KEYS: [&str; 14] = [
    "stages",
    "stage",
    "load",
    "hb",
    "viewer",
    "count",
    "watch",
    "watch:at",
    "intents",
    "master",
    "departed",
    "events",
    "events:limit",
    "publisher",
];

/// Positions in [`FIXED_KEYS`].
const HB: usize = 3;
const MASTER: usize = 9;
const EVENTS: usize = 11;
const PUBLISHER: usize = 13;

/// A deployment's keys.
pub(super) struct Keys {
    /// The prefix as a hash tag (`{ivs}:`): the start of every key.
    tagged: String,
    /// `KEYS[1..14]` of every script (see `prelude.lua`).
    fixed: [String; FIXED_KEYS.len()],
}

impl Keys {
    /// The keys of the deployment with this prefix.
    pub(super) fn new(prefix: &str) -> StoreResult<Keys> {
        let tagged = hash_tagged(prefix)?;
        Ok(Keys {
            fixed: FIXED_KEYS.map(|k| format!("{tagged}{k}")),
            tagged,
        })
    }

    /// The start of every key.
    pub(super) fn tagged(&self) -> &str {
        &self.tagged
    }

    /// The keys every script receives first, in order.
    pub(super) fn fixed(&self) -> impl Iterator<Item = &str> {
        self.fixed.iter().map(String::as_str)
    }

    /// The heartbeat set.
    pub(super) fn heartbeats(&self) -> &str {
        &self.fixed[HB]
    }

    /// The master stage's key.
    pub(super) fn master(&self) -> &str {
        &self.fixed[MASTER]
    }

    /// The event log (a stream).
    pub(super) fn events(&self) -> &str {
        &self.fixed[EVENTS]
    }

    /// The publisher state per stage.
    pub(super) fn publisher(&self) -> &str {
        &self.fixed[PUBLISHER]
    }

    /// A key outside the fixed ones: the tag followed by `parts`.
    pub(super) fn key(&self, parts: &[&str]) -> String {
        let mut key =
            String::with_capacity(self.tagged.len() + parts.iter().map(|p| p.len()).sum::<usize>());
        key.push_str(&self.tagged);
        for p in parts {
            key.push_str(p);
        }
        key
    }

    /// A lease's key.
    pub(super) fn lease(&self, name: &str) -> String {
        self.key(&["lease:", name])
    }
}

/// The start of every key of a deployment: its prefix as a Redis Cluster
/// hash tag, so that all of them hash to one slot (a script may only touch
/// keys of one slot) and different prefixes to different slots. A prefix
/// that already holds a non-empty `{…}` is taken as it is.
pub fn hash_tagged(prefix: &str) -> StoreResult<String> {
    if let Some(open) = prefix.find('{') {
        if let Some(len) = prefix[open + 1..].find('}') {
            if len > 0 {
                return Ok(prefix.to_string());
            }
        }
    }
    let name = prefix.strip_suffix(':').unwrap_or(prefix);
    if name.is_empty() || name.contains(['{', '}']) {
        return Err(StoreError::Unavailable(format!(
            "the Redis key prefix {prefix:?} cannot be a hash tag: use a name such as \"ivs:\""
        )));
    }
    Ok(format!("{{{name}}}:"))
}

/// A viewer's member of the heartbeat set (and field of the watch times):
/// length-prefixed so that no (user, stage) pair collides with another.
/// `pair()` in `prelude.lua` builds the same string.
pub(super) fn pair(user: &str, arn: &str) -> String {
    format!("{}:{arn}{user}", arn.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_prefix_shares_one_hash_tag() {
        assert_eq!(hash_tagged("ivs:").unwrap(), "{ivs}:");
        assert_eq!(hash_tagged("event-42").unwrap(), "{event-42}:");
        // A prefix with its own tag is kept: the user chose the slot.
        assert_eq!(hash_tagged("app:{ivs}:").unwrap(), "app:{ivs}:");
        for bad in ["", ":", "{}:", "a{b:"] {
            assert!(hash_tagged(bad).is_err(), "{bad:?}");
        }
        assert_eq!(pair("u1", "arn:x"), "5:arn:xu1");
    }

    #[test]
    fn the_fixed_keys_are_in_prelude_order() {
        let keys = Keys::new("ivs:").unwrap();
        let fixed: Vec<&str> = keys.fixed().collect();
        assert_eq!(fixed.len(), 14);
        assert_eq!(fixed[0], "{ivs}:stages");
        assert_eq!(keys.heartbeats(), "{ivs}:hb");
        assert_eq!(keys.master(), "{ivs}:master");
        assert_eq!(keys.events(), "{ivs}:events");
        assert_eq!(keys.publisher(), "{ivs}:publisher");
        assert_eq!(keys.lease("scale-up"), "{ivs}:lease:scale-up");
        assert_eq!(keys.key(&["gcra:", "k1"]), "{ivs}:gcra:k1");
    }
}
