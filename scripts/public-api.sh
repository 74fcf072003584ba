#!/usr/bin/env bash
# Prints the public API of a workspace crate, one item a line, sorted, for the
# CHANGELOG's before/after and for review (docs/releasing.md):
#
#   scripts/public-api.sh > docs/api/ivs-client-X.Y.Z.txt
#   scripts/public-api.sh PACKAGE [DEPENDENCY ...]
#
# With no arguments: ivs-client, plus ivs-api so that the items ivs-client
# re-exports from it (`model`) are listed in full. Default features. Needs
# python3.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
    set -- ivs-client ivs-api
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# Rustdoc's JSON output is unstable: RUSTC_BOOTSTRAP lets the stable
# toolchain write it (only this rustdoc run sees the variable).
# scripts/public-api.py checks the format version it was written for.
docs=()
for package in "$@"; do
    RUSTC_BOOTSTRAP=1 cargo rustdoc --quiet -p "$package" --lib -- \
        -Z unstable-options --output-format json
    docs+=("$TARGET_DIR/doc/${package//-/_}.json")
done
python3 scripts/public-api.py "${docs[@]}"
