//! What this binary is: version, git commit and build date (set by `build.rs`).

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit it was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("ROSTER_BUILD_COMMIT");
/// The build date, `YYYY-MM-DD` (UTC).
pub const BUILD_DATE: &str = env!("ROSTER_BUILD_DATE");
/// `roster --version`'s text after the name.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ROSTER_BUILD_COMMIT"),
    ", built ",
    env!("ROSTER_BUILD_DATE"),
    ")"
);

/// The body of `GET /version`.
pub fn json() -> serde_json::Value {
    serde_json::json!({ "version": VERSION, "commit": COMMIT, "build_date": BUILD_DATE })
}
