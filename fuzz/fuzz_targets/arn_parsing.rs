//! Stage ARNs as they arrive in paths (percent-encoded or raw) and bodies:
//! parsing never panics, and whatever parses prints back to itself.
#![no_main]

use ivs_api::StageArn;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode;

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = percent_decode(data).decode_utf8() else {
        return;
    };
    if let Ok(arn) = decoded.parse::<StageArn>() {
        let printed = arn.to_string();
        assert_eq!(printed, decoded.as_ref());
        assert_eq!(printed.parse::<StageArn>().as_ref(), Ok(&arn));
        // The parts read back are the parts written.
        let rebuilt = StageArn::new(arn.region(), arn.account(), arn.id());
        if printed.starts_with("arn:aws:") {
            assert_eq!(rebuilt.as_ref(), Ok(&arn));
        }
    }
});
