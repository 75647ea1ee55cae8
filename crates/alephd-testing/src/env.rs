//! Where the test environment lives: the repo, its fixtures, and the client tool installs that
//! `scripts/test-env.sh` makes.

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `fixtures/` at the repository root.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("fixtures")
}

/// The Python interpreter of the test venv (`ALEPHD_TEST_PYTHON`, else `<repo>/.venv`).
///
/// Panics with instructions when it is missing: a test that needs the real clients must fail,
/// never pass silently, when they are not installed.
pub fn python() -> PathBuf {
    let path = std::env::var_os("ALEPHD_TEST_PYTHON")
        .map_or_else(|| repo_root().join(".venv/bin/python"), PathBuf::from);
    assert!(
        path.exists(),
        "{} not found: run scripts/test-env.sh to install the real Aleph clients",
        path.display()
    );
    path
}

/// `node_modules` with the JS clients (`<repo>/tests-js/node_modules`).
pub fn node_modules() -> PathBuf {
    let path = repo_root().join("tests-js/node_modules");
    assert!(
        path.exists(),
        "{} not found: run scripts/test-env.sh to install the JS clients",
        path.display()
    );
    path
}
