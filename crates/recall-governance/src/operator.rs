//! The operating-system user running the CLI, as the actor of what it records. Taken from
//! the process's real uid (looked up through the system's user database, so directory
//! users resolve too), never from `$USER`, which the caller controls.

use crate::record::Who;

/// The user running this process: `cli:<name>`, or `cli:uid-<n>` when the user database
/// has no entry for the uid.
pub fn current() -> Who {
    Who::operator(&name())
}

/// The name of the user running this process, or `uid-<n>` when the user database has no
/// entry for the uid.
pub fn name() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid-{uid}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_operator_is_the_uid_s_user_whatever_user_says() {
        let who = super::current();
        assert!(who.id.starts_with("cli:") && who.id.len() > 4, "{who:?}");
        let uid = nix::unistd::getuid();
        if let Ok(Some(u)) = nix::unistd::User::from_uid(uid) {
            assert_eq!(who.id, format!("cli:{}", u.name));
        }
    }
}
