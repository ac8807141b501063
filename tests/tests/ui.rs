//! The UI suite: `tests/ui/pass/*.rs` must compile, `tests/ui/fail/*.rs` must fail with the
//! `.stderr` next to them. Regenerate with `TRYBUILD=overwrite` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
