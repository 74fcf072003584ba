//! Request validation of the fields that are not ids (ids are parsed while
//! the body is deserialised, see `ivs_api::UserId` and `ivs_api::StageArn`):
//! every field is checked before any state is touched, so a rejected request
//! never leaves a partial write.

use ivs_api::{Attributes, Tags};

use super::Invalid;
use crate::ivs::rules::{valid_stage_name, valid_tag, MAX_ATTRIBUTES_BYTES, MAX_REQUEST_TAGS};

/// Checks token attributes against IVS's 1 KB bound.
pub fn attributes(attrs: &Attributes) -> Result<(), Invalid> {
    let got: usize = attrs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if got > MAX_ATTRIBUTES_BYTES {
        return Err(Invalid::AttributesTooLarge {
            max: MAX_ATTRIBUTES_BYTES,
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
    if tags.len() > MAX_REQUEST_TAGS {
        return Err(Invalid::TooManyTags {
            max: MAX_REQUEST_TAGS,
        });
    }
    if tags.iter().any(|(k, v)| !valid_tag(k, v)) {
        return Err(Invalid::Tag);
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
