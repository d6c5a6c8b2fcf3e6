//! `[database]`: which database holds the state of every night; `OSA_DATABASE_URL` overrides.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `mysql://user:password@host:port/db` or `sqlite://path`. Empty: an SQLite file at
    /// `<data_root>/<osa_dir>/osa.sqlite`. `OSA_DATABASE_URL` overrides.
    pub url: String,
}

/// Hides the password of a `scheme://user:password@host` URL for messages and `config show`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    // The last `@` ends the credentials: a password may contain `@`.
    let Some((credentials, host)) = rest.rsplit_once('@') else { return url.to_string() };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}
