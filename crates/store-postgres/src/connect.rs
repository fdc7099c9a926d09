//! Connection settings and what to tell a user when PostgreSQL cannot be reached: where
//! roster tried, what failed, and what to do. Messages never carry the password, nor
//! the values PostgreSQL quotes in an error's `DETAIL`.

use std::error::Error as _;
use std::fmt::Write as _;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use roster_store::StoreError;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::Config;

/// How long a connection attempt may take unless the URL says (`connect_timeout=`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a URL points, for messages: hosts and ports, database and user.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    addrs: String,
    dbname: Option<String>,
    user: Option<String>,
}

impl Target {
    fn of(cfg: &Config) -> Target {
        let ports = cfg.get_ports();
        let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let hosts = cfg.get_hosts();
        let hostaddrs = cfg.get_hostaddrs();
        let addrs: Vec<String> = (0..hosts.len().max(hostaddrs.len()))
            .map(|i| match (hostaddrs.get(i), hosts.get(i)) {
                (Some(ip), _) => std::net::SocketAddr::new(*ip, port(i)).to_string(),
                (None, Some(Host::Tcp(h))) if h.contains(':') => format!("[{h}]:{}", port(i)),
                (None, Some(Host::Tcp(h))) => format!("{h}:{}", port(i)),
                #[cfg(unix)]
                (None, Some(Host::Unix(dir))) => {
                    format!("{}/.s.PGSQL.{}", dir.display(), port(i))
                }
                (None, None) => String::new(),
            })
            .collect();
        Target {
            addrs: if addrs.is_empty() {
                "(no host in the URL)".into()
            } else {
                addrs.join(", ")
            },
            dbname: cfg.get_dbname().map(str::to_owned),
            user: cfg.get_user().map(str::to_owned),
        }
    }

    /// `127.0.0.1:5432 (database "roster", user "roster")`.
    fn describe(&self) -> String {
        let mut s = self.addrs.clone();
        let parts: Vec<String> = [
            self.dbname.as_ref().map(|d| format!("database \"{d}\"")),
            self.user.as_ref().map(|u| format!("user \"{u}\"")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !parts.is_empty() {
            let _ = write!(s, " ({})", parts.join(", "));
        }
        s
    }

    fn db(&self) -> &str {
        self.dbname
            .as_deref()
            .or(self.user.as_deref())
            .unwrap_or("roster")
    }
}

/// Parses a `postgres://` URL into connection settings and where they point.
pub(crate) fn config(url: &str) -> Result<(Config, Target), StoreError> {
    let mut cfg = Config::from_str(url).map_err(|e| {
        let why = e
            .source()
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        StoreError::Backend(format!(
            "the PostgreSQL URL is not valid ({why}).\n  Write it as \
             postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters \
             in the password)."
        ))
    })?;
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(CONNECT_TIMEOUT);
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name("roster");
    }
    let target = Target::of(&cfg);
    Ok((cfg, target))
}

/// The message for a failed connection attempt to `target`.
pub(crate) fn failure(target: &Target, e: &tokio_postgres::Error) -> String {
    let (what, hint) = classify(target, e);
    format!(
        "cannot connect to PostgreSQL at {}: {what}.\n  {hint}",
        target.describe()
    )
}

const CHECK_URL: &str = "the --store URL (or ROSTER_STORE)";

fn classify(t: &Target, e: &tokio_postgres::Error) -> (String, String) {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let user = t.user.as_deref().unwrap_or("(default)");
        return if *code == SqlState::INVALID_PASSWORD {
            (
                format!("authentication failed for user \"{user}\""),
                format!("Check the user name and password in {CHECK_URL}."),
            )
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            (
                format!("the server refused the login ({})", db.message()),
                format!(
                    "Check the user name in {CHECK_URL}, and that the server's pg_hba.conf \
                     lets that user connect from this machine."
                ),
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            let name = t.db();
            (
                format!("database \"{name}\" does not exist"),
                format!(
                    "Create it (CREATE DATABASE {name} OWNER {user}; or createdb), or name an \
                     existing database in {CHECK_URL}."
                ),
            )
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            (
                "the server has no connection slots left".into(),
                "Raise the server's max_connections, or run fewer roster nodes (each keeps up \
                 to 16 connections)."
                    .into(),
            )
        } else if *code == SqlState::CANNOT_CONNECT_NOW {
            (
                "the server is starting up or shutting down".into(),
                "Try again in a moment.".into(),
            )
        } else {
            (
                format!("{} (SQLSTATE {})", db.message(), code.code()),
                "Check the URL and the server's log.".into(),
            )
        };
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return classify_io(io);
        }
        if s.to_string().contains("password missing") {
            return (
                "the server asks for a password and the URL has none".into(),
                "Put it in the URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE.".into(),
            );
        }
        source = s.source();
    }
    (
        e.to_string(),
        format!("Check {CHECK_URL} and the server's log."),
    )
}

fn classify_io(io: &io::Error) -> (String, String) {
    use io::ErrorKind as K;
    let text = io.to_string();
    match io.kind() {
        K::ConnectionRefused => (
            "connection refused".into(),
            format!(
                "Is PostgreSQL running, and listening on that address and port? Check the \
                 host and port in {CHECK_URL}, and the server's listen_addresses and port."
            ),
        ),
        K::TimedOut => (
            "no answer in time (timed out)".into(),
            "Check that the host is reachable from this machine (network, firewall) and that \
             PostgreSQL listens there; a URL can allow longer with ?connect_timeout=SECONDS."
                .into(),
        ),
        K::HostUnreachable | K::NetworkUnreachable => (
            format!("the host is unreachable ({text})"),
            format!("Check the host in {CHECK_URL} and this machine's network."),
        ),
        K::NotFound => (
            "no server socket there".into(),
            format!("Is PostgreSQL running? Check the socket directory and port in {CHECK_URL}."),
        ),
        K::PermissionDenied => (
            format!("permission denied ({text})"),
            "Check that this user may open the server's socket.".into(),
        ),
        _ if text.contains("lookup address") || text.contains("resolve") => (
            format!("the host name does not resolve ({text})"),
            format!("Check the host name in {CHECK_URL}."),
        ),
        _ => (text, format!("Check the host and port in {CHECK_URL}.")),
    }
}

/// A driver error as text for logs and errors: for a server error its severity,
/// message and SQLSTATE, but not its `DETAIL`, which quotes row values (a duplicate
/// phone, say); for others the driver's words and their cause.
pub(crate) fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    }
    match e.source() {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_hosts_ports_database_and_user_never_the_password() {
        let (_, t) = config("postgres://roster:pw@127.0.0.1:1/x").expect("url");
        let d = t.describe();
        assert_eq!(d, "127.0.0.1:1 (database \"x\", user \"roster\")");
        let (_, t) = config("postgresql://u:secret@db1:5433,db2/app").expect("url");
        assert_eq!(
            t.describe(),
            "db1:5433, db2:5432 (database \"app\", user \"u\")"
        );
        let (cfg, _) = config("postgres://u@h/d?connect_timeout=3").expect("url");
        assert_eq!(cfg.get_connect_timeout(), Some(&Duration::from_secs(3)));
        let (cfg, _) = config("postgres://u@h/d").expect("url");
        assert_eq!(cfg.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
    }

    #[test]
    fn a_bad_url_does_not_echo_the_password() {
        let Err(StoreError::Backend(m)) = config("postgres://u:hunter2@h:notaport/d") else {
            panic!("accepted");
        };
        assert!(!m.contains("hunter2"), "{m}");
        assert!(
            m.contains("postgres://USER:PASSWORD@HOST:PORT/DATABASE"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn refused_connection_says_where_what_and_what_to_do() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let url = format!("postgres://roster:pw@127.0.0.1:{port}/x");
        let Err(StoreError::Backend(m)) = crate::PgStore::check(&url).await else {
            panic!("connected to a closed port");
        };
        assert!(m.contains(&format!("127.0.0.1:{port}")), "{m}");
        assert!(m.contains("connection refused"), "{m}");
        assert!(m.contains("Is PostgreSQL running"), "{m}");
        assert!(!m.contains("pw"), "{m}");
    }
}
