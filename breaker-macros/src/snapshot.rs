//! The expansion of the README's `posts` method, checked in as `snapshots/posts.rs` so that
//! what the attribute generates, and how much of it, shows in review.
//!
//! After a deliberate change to the expansion, rewrite the file with
//! `UPDATE_SNAPSHOTS=1 cargo test -p breaker-macros snapshot` and commit the diff.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use quote::quote;

/// Formats `code` with rustfmt, the way a reviewer reads it.
fn rustfmt(code: &str) -> String {
    let mut child = Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into()))
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("rustfmt runs (rustup component add rustfmt)");
    child.stdin.take().expect("stdin").write_all(code.as_bytes()).expect("write to rustfmt");
    let out = child.wait_with_output().expect("rustfmt finishes");
    assert!(out.status.success(), "rustfmt failed on:\n{code}");
    String::from_utf8(out.stdout).expect("rustfmt writes UTF-8")
}

#[test]
fn the_readme_posts_method_expands_as_checked_in() {
    let method = super::entry(
        quote!(name = "content-service", fallback = Self::cached_posts, timeout = "2s"),
        quote!(
            async fn posts(&self, user: u64) -> Result<Vec<Post>, ClientError> {
                Ok(self.http.get(format!("{}/posts/{user}", self.base)).send().await?.json().await?)
            }
        ),
    );
    let tokens = method.clone().into_iter().map(|tree| count(&tree)).sum::<usize>();
    let formatted = rustfmt(&quote!(impl ContentClient { #method }).to_string());
    let actual = format!(
        "// The expansion of the README's `posts` method: {tokens} tokens, {} lines formatted.\n\
         // Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p breaker-macros snapshot\n\
         // (breaker-macros/src/snapshot.rs). Not compiled: it names the README's types.\n\n{formatted}",
        formatted.lines().count()
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("snapshots/posts.rs");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &actual).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "the expansion changed; if that is intended, run `UPDATE_SNAPSHOTS=1 cargo test -p breaker-macros snapshot` \
         and commit {}.\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// The number of tokens in `tree`, counting a group's delimiters as one.
fn count(tree: &proc_macro2::TokenTree) -> usize {
    match tree {
        proc_macro2::TokenTree::Group(group) => 1 + group.stream().into_iter().map(|t| count(&t)).sum::<usize>(),
        _ => 1,
    }
}
