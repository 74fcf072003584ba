//! Calls that must not compile: swapped ids, and strings where typed ids are
//! expected. Each `tests/ui/*.rs` must fail to build with the compiler
//! output of its `.stderr` (regenerate with `TRYBUILD=overwrite` after a
//! deliberate change, and read the diff).
//!
//! In a package of its own (`ivs-client-compile-fail`): trybuild runs cargo
//! on a crate of its own (in `target/tests/trybuild`) with the dependencies
//! of the package it runs in, and ivs-client's dev-dependencies would bring
//! the whole server. `cargo test -p ivs-client-compile-fail` runs it alone.

#[test]
fn misused_ids_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
