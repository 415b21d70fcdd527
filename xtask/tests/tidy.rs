//! The house rules as plain tests: `cargo test` fails when the tree breaks one, and each check
//! is shown to catch what it is for.

// Test helpers may unwrap: a panic here is a failing test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use xtask::tidy::deps::{Edge, check_dependency_direction, workspace_edges};
use xtask::tidy::docs::{Claim, check_docs_name_real_things, classify};
use xtask::tidy::sources::tests_without_assertions;
use xtask::{tidy, workspace_root};

#[test]
fn the_workspace_is_tidy() {
    let violations = tidy::run_all(&workspace_root()).unwrap();
    assert!(
        violations.is_empty(),
        "tidy violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn a_forbidden_dependency_edge_fails_tidy() {
    let mut edges = workspace_edges(&workspace_root()).unwrap();
    assert!(
        check_dependency_direction(&edges).is_empty(),
        "today's graph is clean"
    );
    assert!(
        edges.contains(&Edge::normal("chatbox-ws", "chatbox-session")),
        "edges are read from cargo metadata"
    );
    edges.push(Edge::normal("chatbox-llm", "chatbox-store"));
    edges.push(Edge::normal("chatbox-core", "chatbox-session"));
    edges.push(Edge::dev("chatbox-store", "chatbox-ws"));
    let violations = check_dependency_direction(&edges);
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].contains("chatbox-llm -> chatbox-store"));
    assert!(violations[1].contains("chatbox-core -> chatbox-session"));
    assert!(violations[2].contains("dev-dependency edge chatbox-store -> chatbox-ws"));
}

#[test]
fn a_crate_missing_from_the_table_must_be_placed() {
    let violations = check_dependency_direction(&[Edge::normal("chatbox-extra", "chatbox-core")]);
    assert_eq!(violations.len(), 1);
    assert!(violations[0].contains("not in the dependency table"));
}

#[test]
fn tests_without_assertions_are_found() {
    let src = r#"
        #[test]
        fn checks() { assert_eq!(1, 1); }
        #[test]
        fn does_nothing() { let x = 1; let _ = x; }
        #[tokio::test(flavor = "multi_thread")]
        async fn returns_result() -> Result<(), E> { op().await?; Ok(()) }
        #[test]
        #[should_panic]
        fn panics() { boom(); }
    "#;
    assert_eq!(
        tests_without_assertions(src),
        ["does_nothing", "returns_result"]
    );
}

#[test]
fn a_body_whose_only_check_is_question_mark_is_flagged() {
    let src = r#"
        #[test]
        fn only_propagates() -> Result<(), E> {
            foo()?;
            let _value = bar().expect("bar");
            Ok(())
        }
    "#;
    assert_eq!(tests_without_assertions(src), ["only_propagates"]);
}

#[test]
fn assertion_macros_count() {
    let src = r#"
        #[test]
        fn compares() -> Result<(), E> { assert_eq!(foo()?, 1); Ok(()) }
        #[test]
        fn property() { prop_assert_ne!(a, b); }
        #[test]
        fn matched() { match f() { Frame::Done => {} other => panic!("{other:?}") } }
        #[test]
        fn refused() { let Err(_) = f() else { unreachable!("accepted") }; }
    "#;
    assert!(tests_without_assertions(src).is_empty());
}

#[test]
fn helpers_named_for_checking_count() {
    let src = r#"
        #[tokio::test]
        async fn frames() -> Result<(), E> { let f = recv().await?; assert_frames(&f, &["a"]); Ok(()) }
        #[test]
        fn closing() { expect_close(&mut ws, 1000); }
        #[test]
        fn suffixed() { replies_asserts(&s); }
        #[test]
        fn refusal() { f().expect_err("must refuse"); }
        #[test]
        fn snapshot() { check(frame(), expect![["{}"]]); }
        #[test]
        fn suite() { store_conformance::run_all(make); }
        #[tokio::test]
        async fn delegated() {
            let store = open().await;
            crate::concurrent::appends_lose_nothing(store).await;
        }
    "#;
    assert!(tests_without_assertions(src).is_empty());
}

#[test]
fn words_that_only_resemble_checks_do_not_count() {
    let src = r#"
        #[test]
        fn lookalikes() -> Result<(), E> {
            let checked = a.checked_add(1).expect("fits");
            let name = crate::support::unique("x");
            let path = format!(
                "{}",
                crate::support::unique("y")
            );
            run(checked, name, path)?;
            Ok(())
        }
    "#;
    assert_eq!(tests_without_assertions(src), ["lookalikes"]);
}

#[test]
fn doc_tokens_are_classified() {
    assert_eq!(
        classify("JWT_SECRET"),
        Some(Claim::EnvVar("JWT_SECRET".into()))
    );
    assert_eq!(
        classify("$CARGO_TARGET_DIR"),
        Some(Claim::EnvVar("CARGO_TARGET_DIR".into()))
    );
    assert_eq!(
        classify("crates/chatbox-core/"),
        Some(Claim::Path("crates/chatbox-core".into()))
    );
    assert_eq!(classify("deny.toml"), Some(Claim::Path("deny.toml".into())));
    assert_eq!(
        classify("P/sessions/{id}/end"),
        Some(Claim::Endpoint("/sessions/{id}/end".into()))
    );
    assert_eq!(
        classify("/chatbox/healthz"),
        Some(Claim::Endpoint("/healthz".into()))
    );
    assert_eq!(classify("docs/"), Some(Claim::Path("docs".into())));
    assert_eq!(
        classify("docs"),
        None,
        "a bare word (`cargo xtask docs`) is not a path"
    );
    assert_eq!(classify("cargo"), None);
    assert_eq!(classify("Store"), None);
}

#[test]
fn docs_naming_missing_things_are_reported() {
    let dir: PathBuf = std::env::temp_dir().join(format!("xtask-docs-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::create_dir_all(dir.join("crates/real")).unwrap();
    std::fs::write(
        dir.join("crates/real/lib.rs"),
        "//! x\nconst V: &str = \"REAL_VAR\";\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("README.md"),
        "Set `REAL_VAR` and `GHOST_VAR`; see `crates/real` and `crates/ghost`; call `P/nowhere`.\n",
    )
    .unwrap();
    let violations = check_docs_name_real_things(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        violations,
        [
            "README.md: names env var GHOST_VAR, which no code reads",
            "README.md: names path crates/ghost, which does not exist",
            "README.md: names endpoint /nowhere, which no route serves",
        ]
    );
}
