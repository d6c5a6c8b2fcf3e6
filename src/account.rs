//! Who osa runs as: the name squeue/sacct filter on, the agent of provenance records and the
//! actor of audited operator actions. Read from the process's uid (under systemd `$USER` may
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
