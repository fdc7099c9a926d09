//! Build facts for `roster --version`, `GET /version` and the `roster_build_info`
//! metric: the git commit (`ROSTER_BUILD_COMMIT` when set, else `git rev-parse`, else
//! `unknown`, e.g. in a source tarball) and the build date (`SOURCE_DATE_EPOCH` when
//! set, for reproducible builds, else today), both in UTC.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ROSTER_BUILD_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // A new commit changes HEAD or the branch it points to.
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
    let commit = std::env::var("ROSTER_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
        });
    println!("cargo:rustc-env=ROSTER_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=ROSTER_BUILD_DATE={}", civil_date(secs));
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
fn civil_date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || "unknown".to_owned(),
        |t| t.format("%Y-%m-%d").to_string(),
    )
}
