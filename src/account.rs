//! Who osa runs as: the name squeue/sacct filter on and the agent of provenance records; and
//! who is behind an operator command ([`operator_name`]), the actor in the audit log. Read from the process's uid (under systemd `$USER` may
//! be unset); `$USER` only where the uid has no name (a container without passwd entries),
//! and the number itself (squeue and sacct accept it) where neither says.

/// The account name of this process.
pub fn user_name() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| uid.to_string())
}

/// The person behind an operator command, for the audit log: the one who ran `sudo -u
/// lstanalyzer osa …` (`SUDO_USER`), else this process's account.
pub fn operator_name() -> String {
    std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(user_name)
}
