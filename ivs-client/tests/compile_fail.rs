//! Calls that must not compile: swapped ids, and strings where typed ids are
//! expected. Each `tests/ui/*.rs` must fail to build with the compiler
//! output of its `.stderr` (regenerate with `TRYBUILD=overwrite` after a
//! deliberate change, and read the diff).
//!
//! A test binary of its own: trybuild runs cargo on a crate of its own (in
//! `target/tests/trybuild`, with this crate's dependencies), which takes
//! minutes the first time; `cargo test -p ivs-client --test compile_fail`
//! runs it alone.

#[test]
fn misused_ids_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
