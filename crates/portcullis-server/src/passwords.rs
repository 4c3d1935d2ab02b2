//! The password and email rules of `portcullis user create` and `user set-password`.
//!
//! Passwords follow NIST SP 800-63B §3.1.1.2: a minimum length
//! (`password_min_length`, at least 8, counted in Unicode code points), no composition
//! rules (no "one digit and one symbol"), and a check against a list of commonly used
//! passwords, compared ignoring case. The list ships in the binary
//! (`common-passwords.txt`, Openwall's `password.lst` as John the Ripper distributes
//! it, 3546 passwords in public use, in the public domain, unchanged); nothing is
//! fetched at build or run time. A password that is the username, or one character
//! repeated, is refused too (800-63B names both).
//!
//! Emails must have the syntax browsers check for `<input type="email">` (the WHATWG
//! HTML standard's "valid email address"): `local@domain`, ASCII, the domain in DNS
//! labels.
//!
//! No message repeats the password.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The commonly used passwords, one a line; lines starting with `#!comment` are its
/// header.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

fn common_passwords() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .filter(|line| !line.starts_with("#!comment") && !line.is_empty())
            .map(str::to_lowercase)
            .collect()
    })
}

/// True when `password` is on the shipped list of common passwords, ignoring case.
pub fn is_common(password: &str) -> bool {
    common_passwords().contains(&password.to_lowercase())
}

/// Checks a new password for `username` against the policy: at least `min_length`
/// characters, not a common password, not the username, not one character repeated.
/// The error says what is wrong and what to do, never the password.
pub fn check_password(password: &str, username: &str, min_length: u32) -> Result<(), String> {
    let length = password.chars().count();
    if length < usize::try_from(min_length).unwrap_or(usize::MAX) {
        return Err(format!(
            "the password is too short: {length} character{}, and at least {min_length} are \
             needed (password_min_length); a few words together make a long password that \
             is easy to remember",
            if length == 1 { "" } else { "s" }
        ));
    }
    if is_common(password) {
        return Err(
            "the password is one of the most commonly used passwords, which attackers try \
             first: choose another"
                .to_owned(),
        );
    }
    if password.trim().to_lowercase() == username.trim().to_lowercase() {
        return Err("the password must not be the username: choose another".to_owned());
    }
    let mut chars = password.chars();
    if let Some(first) = chars.next() {
        if chars.all(|c| c == first) {
            return Err(
                "the password is one character repeated, which attackers try first: choose \
                 another"
                    .to_owned(),
            );
        }
    }
    Ok(())
}

/// Checks the syntax of an email address: the WHATWG HTML standard's "valid email
/// address" (what browsers accept in `<input type="email">`), at most 254 characters.
pub fn check_email(email: &str) -> Result<(), String> {
    let invalid = |why: &str| {
        Err(format!(
            "invalid email '{}': {why} (an address looks like name@example.com)",
            email.escape_debug()
        ))
    };
    if email.len() > 254 {
        return invalid("it is longer than 254 characters");
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return invalid("it has no '@'");
    };
    const LOCAL_SPECIALS: &str = ".!#$%&'*+/=?^_`{|}~-";
    if local.is_empty()
        || !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
    {
        return invalid("the part before '@' must be letters, digits or .!#$%&'*+/=?^_`{|}~-");
    }
    if domain.is_empty() {
        return invalid("there is no domain after '@'");
    }
    for label in domain.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return invalid(
                "the domain must be names of letters, digits and inner hyphens, separated by dots",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_policy() {
        assert!(check_password("correct horse battery staple", "alice", 8).is_ok());
        assert!(check_password("s3cret pass", "alice", 8).is_ok());
        // Length counts characters, not bytes.
        assert!(check_password("ééééééé", "alice", 8)
            .unwrap_err()
            .contains("too short: 7 characters"));
        assert!(check_password("a", "alice", 8)
            .unwrap_err()
            .contains("1 character,"));
        assert!(check_password("long enough", "alice", 12)
            .unwrap_err()
            .contains("at least 12"));
        for common in ["password", "PASSWORD", "Password1", "iloveyou", "trustno1"] {
            let error = check_password(common, "alice", 8).unwrap_err();
            assert!(error.contains("most commonly used"), "{common}: {error}");
            if common != "password" {
                assert!(!error.contains(common), "the message never repeats it");
            }
        }
        assert!(
            check_password("alice-in-wonderland", "Alice-In-Wonderland", 8)
                .unwrap_err()
                .contains("username")
        );
        assert!(check_password("zzzzzzzzzz", "alice", 8)
            .unwrap_err()
            .contains("repeated"));
    }

    #[test]
    fn the_list_is_shipped_and_read() {
        assert!(common_passwords().len() > 3000);
        assert!(!common_passwords()
            .iter()
            .any(|p| p.starts_with("#!comment")));
        assert!(is_common("123456789") && is_common("QWERTY") && !is_common("a long phrase"));
    }

    #[test]
    fn email_syntax() {
        for ok in [
            "alice@example.com",
            "a.b+tag@sub.example.co.uk",
            "root@localhost",
            "x@a-b.example",
        ] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "notanemail",
            "@example.com",
            "alice@",
            "alice@@example.com",
            "alice @example.com",
            "alice@exa mple.com",
            "alice@-example.com",
            "alice@example..com",
            "alice@example.com.",
            "al\u{e9}ce@example.com",
            "alice@example.com\n",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_email("notanemail").unwrap_err().contains("no '@'"));
    }
}
