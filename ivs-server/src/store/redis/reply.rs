//! Reading what Redis answers: scripts' array replies read in order, and the
//! integers and strings in them. Anything else is `Corrupt`: a bug, or foreign
//! data under the deployment's prefix.

use redis::Value;

use crate::store::{StoreError, StoreResult};

/// Reads a script's array reply in order.
pub(super) struct Reply {
    items: std::vec::IntoIter<Value>,
}

impl Reply {
    pub(super) fn new(value: Value) -> StoreResult<Self> {
        match value {
            Value::Array(items) => Ok(Reply {
                items: items.into_iter(),
            }),
            other => Err(corrupt(format!("expected an array, got {other:?}"))),
        }
    }

    /// How many items are left.
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn int(&mut self) -> StoreResult<i64> {
        int_value(self.items.next())
    }

    pub(super) fn string(&mut self) -> StoreResult<String> {
        match self.items.next() {
            Some(v) => text(v),
            None => Err(corrupt("expected a string, got nothing".into())),
        }
    }
}

/// An integer reply, nothing else.
pub(super) fn integer(value: Value) -> StoreResult<i64> {
    match value {
        Value::Int(i) => Ok(i),
        other => Err(corrupt(format!("expected an integer, got {other:?}"))),
    }
}

/// An integer reply, or one sent as digits (scores, script results).
pub(super) fn int_value(value: Option<Value>) -> StoreResult<i64> {
    match value {
        Some(Value::Int(i)) => Ok(i),
        Some(Value::BulkString(b)) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| corrupt(format!("expected an integer, got {b:?}"))),
        other => Err(corrupt(format!("expected an integer, got {other:?}"))),
    }
}

/// A text reply, nothing else.
pub(super) fn text(value: Value) -> StoreResult<String> {
    match value {
        Value::BulkString(b) => {
            String::from_utf8(b).map_err(|e| corrupt(format!("expected UTF-8 text: {e}")))
        }
        Value::SimpleString(s) => Ok(s),
        other => Err(corrupt(format!("expected a string, got {other:?}"))),
    }
}

pub(super) fn corrupt(msg: String) -> StoreError {
    StoreError::Corrupt(msg)
}

/// A count or duration the scripts never make negative; 0 if one is.
pub(super) fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A viewer count.
pub(super) fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_array_reply_in_order() {
        let mut reply = Reply::new(Value::Array(vec![
            Value::Int(1),
            Value::BulkString(b"arn".to_vec()),
            Value::BulkString(b"42".to_vec()),
            Value::SimpleString("ok".into()),
        ]))
        .unwrap();
        assert_eq!(reply.len(), 4);
        assert_eq!(reply.int().unwrap(), 1);
        assert_eq!(reply.string().unwrap(), "arn");
        assert_eq!(reply.int().unwrap(), 42);
        assert_eq!(reply.string().unwrap(), "ok");
        assert_eq!(reply.len(), 0);
        assert!(matches!(reply.int(), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn anything_else_is_corrupt() {
        assert!(matches!(
            Reply::new(Value::Int(1)),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            integer(Value::BulkString(b"1".to_vec())),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            int_value(Some(Value::BulkString(b"x".to_vec()))),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(non_negative(-1), 0);
        assert_eq!(count(i64::MAX), u32::MAX);
    }
}
