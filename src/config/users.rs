//! `user` and `group` resolved from `/etc/passwd` and `/etc/group` directly: a static binary has
//! no NSS, and a `FROM scratch` image has nothing but those two files (if that).

use crate::sys::spawn::Credentials;

pub const PASSWD: &str = "/etc/passwd";
pub const GROUP: &str = "/etc/group";

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        let _gecos = f.next();
        let home = f.next().unwrap_or("");
        Some(PasswdEntry {
            name,
            uid,
            gid,
            home,
        })
    })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: &'a str,
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        let gid = f.next()?.parse().ok()?;
        let members = f.next().unwrap_or("");
        Some(GroupEntry { name, gid, members })
    })
}

/// Resolves a user (name or uid) and an optional group (name or gid). Without a group the
/// user's primary group is used; a numeric uid with no passwd entry gets gid 0, as Docker does.
/// Supplementary groups are the `/etc/group` entries that list the user.
pub fn resolve(
    user: Option<&str>,
    group: Option<&str>,
    passwd: &str,
    groups: &str,
) -> Result<Credentials, String> {
    let (uid, mut gid, name, home) = match user {
        Some(u) => {
            let entry = passwd_entries(passwd).find(|e| e.name == u);
            let known = |e: PasswdEntry<'_>| {
                let home = (!e.home.is_empty()).then(|| e.home.to_owned());
                (e.uid, e.gid, Some(e.name.to_owned()), home)
            };
            match (entry, u.parse::<u32>()) {
                (Some(e), _) => known(e),
                (None, Ok(n)) => match passwd_entries(passwd).find(|e| e.uid == n) {
                    Some(e) => known(e),
                    None => (n, 0, None, None),
                },
                (None, Err(_)) => {
                    return Err(format!("unknown user {u:?}: no such entry in {PASSWD}"));
                }
            }
        }
        None => (crate::sys::uid(), 0, None, None),
    };
    if let Some(g) = group {
        gid = match (
            group_entries(groups).find(|e| e.name == g),
            g.parse::<u32>(),
        ) {
            (Some(e), _) => e.gid,
            (None, Ok(n)) => n,
            (None, Err(_)) => {
                return Err(format!("unknown group {g:?}: no such entry in {GROUP}"));
            }
        };
    }
    let mut supplementary = vec![gid];
    if let Some(n) = &name {
        for e in group_entries(groups) {
            if e.members.split(',').any(|m| m.trim() == n) && !supplementary.contains(&e.gid) {
                supplementary.push(e.gid);
            }
        }
    }
    Ok(Credentials {
        uid,
        gid,
        groups: supplementary,
        name,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GR: &str = "root:x:0:\nwww-data:x:33:\napp:x:1000:\ndocker:x:999:app,other\n";

    #[test]
    fn names_ids_and_groups() {
        let c = resolve(Some("www-data"), None, PW, GR).unwrap();
        assert_eq!((c.uid, c.gid, c.groups), (33, 33, vec![33]));
        assert_eq!(
            (c.name.as_deref(), c.home.as_deref()),
            (Some("www-data"), Some("/var/www"))
        );
        let c = resolve(Some("app"), None, PW, GR).unwrap();
        assert_eq!((c.uid, c.gid, c.groups), (1000, 1000, vec![1000, 999]));
        let c = resolve(Some("1000"), Some("www-data"), PW, GR).unwrap();
        assert_eq!((c.uid, c.gid), (1000, 33));
        let c = resolve(Some("4242"), None, PW, GR).unwrap();
        assert_eq!((c.uid, c.gid, c.groups), (4242, 0, vec![0]));
        let c = resolve(Some("app"), Some("77"), PW, GR).unwrap();
        assert_eq!(c.gid, 77);
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(
            resolve(Some("nobody-here"), None, PW, GR)
                .unwrap_err()
                .contains("unknown user")
        );
        assert!(
            resolve(Some("app"), Some("nogroup-x"), PW, GR)
                .unwrap_err()
                .contains("unknown group")
        );
    }
}
