#!/usr/bin/env bash
# Semver check of the published crates (ivs-api, ivs-client): compares their
# public API with the last release's and fails when a change needs a bigger
# version bump than the one in Cargo.toml (for 0.x versions a breaking change
# needs the minor number to move: 0.1.x -> 0.2.0). See docs/releasing.md.
#
# Runs cargo-semver-checks, installed from crates.io (pinned, see below) when
# it is missing or another version.
set -euo pipefail
cd "$(dirname "$0")/.."

# The last release's commit: the API users have. The crates were never
# published to a registry, so the baseline is a git revision, not a registry
# version. At each release, once the release commit (the one that sets the
# new version) is on main, set this to that commit: from then on the check
# compares against the new release (docs/releasing.md, "Moving the baseline").
BASELINE_REV=e6421a12eb3ae40c741d28d9077dbd0b67edf5ed # ivs-client 0.1.0, ivs-api 0.1.0

# Pinned: rustdoc's JSON format is unstable and each cargo-semver-checks
# release reads only a few of its versions. 0.50.0 reads v57 (Rust 1.93 to
# 1.97; this toolchain is 1.95), v60 and v61. When the toolchain moves, check
# that the pinned version still reads its format (an unsupported one fails
# with "unsupported rustdoc format vNN") and move it with it.
SEMVER_CHECKS_VERSION=0.50.0

if ! cargo semver-checks --version 2>/dev/null | grep -qx "cargo-semver-checks $SEMVER_CHECKS_VERSION"; then
    echo "== installing cargo-semver-checks $SEMVER_CHECKS_VERSION"
    cargo install --locked --quiet cargo-semver-checks --version "$SEMVER_CHECKS_VERSION"
fi

# A shallow clone would not have the baseline: say so rather than letting the
# tool fail with a git error.
if ! git cat-file -e "$BASELINE_REV^{commit}" 2>/dev/null; then
    echo "semver-checks: baseline commit $BASELINE_REV is not in this clone (shallow?);" \
        "fetch the full history" >&2
    exit 1
fi

check() {
    echo "== cargo semver-checks $* against $BASELINE_REV"
    cargo semver-checks check-release --baseline-rev "$BASELINE_REV" "$@"
}
# ivs-api with all its features: `openapi` adds public trait impls.
check --package ivs-api
# ivs-client with its default ones: its TLS features change no public item,
# and `native-tls` would need OpenSSL's headers only to find that out.
check --package ivs-client --default-features
