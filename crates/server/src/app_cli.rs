//! `roster app …`: the app lifecycle on the store directly, without a running server.
//! Each command calls the same functions as the admin API (`roster_api_native::apps`)
//! and prints the same JSON.

use roster_api_native::apps;
use roster_core::time::now_ms;

use crate::Settings;

/// The `app` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AppCommand {
    /// Create an app and print its credentials (Getui, UMS, Growth, EngageLab) as JSON.
    Create {
        /// The app's display name.
        #[arg(long)]
        name: String,
    },
    /// Print a page of apps (key ids, never secrets) and the next page's cursor as JSON.
    List {
        /// The `next_cursor` of the previous page.
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
        /// Apps per page, 1–500.
        #[arg(long, value_name = "N", default_value_t = apps::DEFAULT_LIMIT)]
        limit: usize,
    },
    /// Print an app (name, creation time, key ids) as JSON.
    Show {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
    },
    /// Delete an app and ALL its data in one transaction (cannot be undone without a
    /// backup).
    Delete {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// The app id again.
        #[arg(long, value_name = "ID")]
        confirm: Option<String>,
    },
    /// Issue new secrets for one dialect (the key ids stay) and print them as JSON; the
    /// replaced secrets keep working for the grace.
    Rotate {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// getui (also the native API), ums, growth or engagelab.
        #[arg(value_name = "DIALECT")]
        dialect: String,
        /// How long the replaced secrets keep working, 0–2592000 s (0: stop at once).
        #[arg(long, value_name = "N", default_value_t = roster_core::app::ROTATION_GRACE_DEFAULT_S)]
        grace_seconds: u64,
    },
}

fn to_json(v: &impl serde::Serialize) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(v)?)
}

/// Runs an `app` command; answers the JSON to print.
pub async fn run(settings: &Settings, command: &AppCommand) -> anyhow::Result<serde_json::Value> {
    let fail = |e: roster_core::Error| anyhow::anyhow!("{e}");
    let store = || crate::open_cli_store(settings);
    match command {
        AppCommand::Create { name } => to_json(&crate::create_app(settings, name).await?),
        AppCommand::List { cursor, limit } => {
            let store = store().await?;
            let page = apps::list(store.as_ref(), cursor.as_deref(), Some(*limit), now_ms());
            to_json(&page.await.map_err(fail)?)
        }
        AppCommand::Show { app } => {
            let store = store().await?;
            to_json(
                &apps::show(store.as_ref(), app, now_ms())
                    .await
                    .map_err(fail)?,
            )
        }
        AppCommand::Delete { app, confirm } => {
            let store = store().await?;
            match apps::delete(store.as_ref(), app, confirm.as_deref())
                .await
                .map_err(fail)?
            {
                Ok(id) => Ok(serde_json::json!({ "deleted": id.to_string() })),
                Err(refused) => anyhow::bail!("{}", refused.message(app)),
            }
        }
        AppCommand::Rotate {
            app,
            dialect,
            grace_seconds,
        } => {
            let d = apps::dialect(dialect).map_err(|_| {
                anyhow::anyhow!("{dialect:?} is not a dialect; use getui, ums, growth or engagelab")
            })?;
            let store = store().await?;
            let out = apps::rotate(store.as_ref(), app, d, Some(*grace_seconds), now_ms());
            to_json(&out.await.map_err(fail)?)
        }
    }
}
