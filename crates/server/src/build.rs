//! What this build of roster is.

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit it was built from.
pub const COMMIT: &str = "unknown";
/// When it was built.
pub const BUILD_DATE: &str = "unknown";
