//! Request validation of the fields that are not ids (ids are parsed while
//! the body is deserialised, see `ivs_api::UserId` and `ivs_api::StageArn`):
//! every field is checked before any state is touched, so a rejected request
//! never leaves a partial write.

use ivs_api::{Attributes, Tags};

use super::Invalid;
use crate::ivs::local::valid_stage_name;

/// IVS's bound on a token's attributes (keys and values together).
pub const ATTRIBUTES_MAX_BYTES: usize = 1024;
/// IVS's bounds on tags.
pub const MAX_TAGS: usize = 50;

/// Checks token attributes against IVS's 1 KB bound.
pub fn attributes(attrs: &Attributes) -> Result<(), Invalid> {
    let got: usize = attrs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if got > ATTRIBUTES_MAX_BYTES {
        return Err(Invalid::AttributesTooLarge {
            max: ATTRIBUTES_MAX_BYTES,
            got,
        });
    }
    if attrs.keys().any(|k| k.is_empty()) {
        return Err(Invalid::AttributeKeyEmpty);
    }
    Ok(())
}

/// Checks a stage name as IVS allows it: 1 to 128 of `[a-zA-Z0-9-_]`.
pub fn stage_name(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(Invalid::StageNameMissing);
    }
    if !valid_stage_name(name) {
        return Err(Invalid::StageName);
    }
    Ok(())
}

/// Checks user-supplied stage tags (IVS's rules; `aws:` keys are reserved).
pub fn tags(tags: &Tags) -> Result<(), Invalid> {
    if tags.len() > MAX_TAGS - 3 {
        return Err(Invalid::TooManyTags { max: MAX_TAGS - 3 });
    }
    for (k, v) in tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
            return Err(Invalid::Tag);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_bound_is_one_kilobyte() {
        let mut a = Attributes::new();
        a.insert("k".into(), "v".repeat(1023));
        assert!(attributes(&a).is_ok());
        a.insert("x".into(), "y".into());
        assert_eq!(
            attributes(&a),
            Err(Invalid::AttributesTooLarge {
                max: 1024,
                got: 1026
            })
        );
    }
}
