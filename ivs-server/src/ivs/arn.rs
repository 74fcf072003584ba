//! Stage ARNs: `arn:aws:ivs:<region>:<account>:stage/<id>`.
//!
//! Every ARN that reaches the server from a request is parsed here first, so
//! that nothing malformed ever reaches the store or IVS.

use std::fmt;
use std::str::FromStr;

use super::rules::valid_stage_id;

/// A parsed stage ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StageArn {
    partition: String,
    region: String,
    account: String,
    id: String,
}

/// Why an ARN did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a stage ARN (arn:aws:ivs:<region>:<account>:stage/<id>): {0}")]
pub struct ArnError(&'static str);

impl StageArn {
    /// A stage ARN from its parts.
    pub fn new(region: &str, account: &str, id: &str) -> Self {
        StageArn {
            partition: "aws".into(),
            region: region.into(),
            account: account.into(),
            id: id.into(),
        }
    }

    /// The stage id (the IVS `topic` claim).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account.
    pub fn account(&self) -> &str {
        &self.account
    }
}

fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl FromStr for StageArn {
    type Err = ArnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > 256 {
            return Err(ArnError("too long"));
        }
        let mut parts = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("ivs"), Some(region), Some(account), Some(res)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(ArnError(
                "expected arn:<partition>:ivs:<region>:<account>:stage/<id>",
            ));
        };
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(ArnError("unknown partition"));
        }
        if !is_region(region) {
            return Err(ArnError("bad region"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ArnError("account must be 12 digits"));
        }
        let id = res
            .strip_prefix("stage/")
            .ok_or(ArnError("resource must be stage/<id>"))?;
        if !valid_stage_id(id) {
            return Err(ArnError("stage id must be 1-128 of [a-zA-Z0-9-]"));
        }
        Ok(StageArn {
            partition: partition.into(),
            region: region.into(),
            account: account.into(),
            id: id.into(),
        })
    }
}

impl fmt::Display for StageArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:ivs:{}:{}:stage/{}",
            self.partition, self.region, self.account, self.id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example() {
        let arn: StageArn = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8"
            .parse()
            .unwrap();
        assert_eq!(arn.id(), "sWyAydfRqqF8");
        assert_eq!(arn.region(), "ap-northeast-1");
        assert_eq!(
            arn.to_string(),
            "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8"
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "arn",
            "arn:aws:ivs:ap-northeast-1:125371974421:stage/",
            "arn:aws:ivs:ap-northeast-1:125371974421:channel/abc",
            "arn:aws:s3:ap-northeast-1:125371974421:stage/abc",
            "arn:aws:ivs:ap-northeast-1:12537197442:stage/abc",
            "arn:aws:ivs:AP:125371974421:stage/abc",
            "arn:aws:ivs:ap-northeast-1:125371974421:stage/a/b",
            "arn:aws:ivs:ap-northeast-1:125371974421:stage/a b",
            "arn:evil:ivs:ap-northeast-1:125371974421:stage/abc",
        ] {
            assert!(bad.parse::<StageArn>().is_err(), "{bad:?} parsed");
        }
        let long = format!(
            "arn:aws:ivs:us-east-1:125371974421:stage/{}",
            "a".repeat(129)
        );
        assert!(long.parse::<StageArn>().is_err());
    }
}
