//! Usernames: what may be registered, and the one form they are compared in.
//!
//! A username is stored as it was registered, trimmed and in Unicode NFKC, and compared
//! by its *key*: trimmed, NFKC, then case-folded (Unicode default case folding) and
//! NFKC again. So `Alice`, ` alice` and `ALICE` are one user, one sign-in throttle
//! key, one row — whatever the CLI or the sign-in form received (issue 9, finding 9).
//!
//! At registration a name is also refused when it mixes scripts in a way that lets it
//! pass for another name (UTS #39's "highly restrictive" level): `аlice` with a
//! Cyrillic `а` next to Latin letters is refused, while a name in one script, or Latin
//! with Han and Japanese kana, Chinese Bopomofo or Korean Hangul, is fine. Invisible
//! format characters (zero-width spaces and joiners, bidirectional controls) and
//! control characters are refused too.

use unicode_normalization::UnicodeNormalization;
use unicode_script::{Script, UnicodeScript};

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 128;

/// Why a username cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsernameError {
    /// Nothing is left after trimming.
    #[error("the username must not be empty")]
    Empty,
    /// Longer than [`MAX_USERNAME_CHARS`].
    #[error("the username is longer than 128 characters")]
    TooLong,
    /// A control or invisible format character.
    #[error("the username contains a control or invisible character")]
    Invisible,
    /// Letters of scripts that do not belong together (a look-alike of another name).
    #[error("the username mixes letters of different scripts ({0}), so it could pass for another name; use letters of one script")]
    MixedScripts(String),
}

/// The form a username is stored in: trimmed and NFKC. Refuses what
/// [`UsernameError`] lists.
pub fn normalize_username(username: &str) -> Result<String, UsernameError> {
    let normalized: String = username.trim().nfkc().collect();
    let normalized = normalized.trim().to_owned();
    if normalized.is_empty() {
        return Err(UsernameError::Empty);
    }
    if normalized.chars().count() > MAX_USERNAME_CHARS {
        return Err(UsernameError::TooLong);
    }
    if normalized.chars().any(is_invisible) {
        return Err(UsernameError::Invisible);
    }
    check_scripts(&normalized)?;
    Ok(normalized)
}

/// The key usernames are compared by: trimmed, NFKC, case-folded, NFKC. Never fails:
/// whatever someone types at the sign-in form has a key.
pub fn username_key(username: &str) -> String {
    let normalized: String = username.trim().nfkc().collect();
    let folded = caseless::default_case_fold_str(normalized.trim());
    folded.nfkc().collect()
}

/// Control characters and the format characters that render as nothing.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// UTS #39 §5.2 "highly restrictive": one script, or Latin with one of the
/// combinations East Asian writing uses.
fn check_scripts(name: &str) -> Result<(), UsernameError> {
    let mut scripts: Vec<Script> = Vec::new();
    for c in name.chars() {
        let script = c.script();
        if matches!(script, Script::Common | Script::Inherited | Script::Unknown) {
            continue;
        }
        if !scripts.contains(&script) {
            scripts.push(script);
        }
    }
    let allowed_together: [&[Script]; 3] = [
        &[
            Script::Latin,
            Script::Han,
            Script::Hiragana,
            Script::Katakana,
        ],
        &[Script::Latin, Script::Han, Script::Bopomofo],
        &[Script::Latin, Script::Han, Script::Hangul],
    ];
    if scripts.len() <= 1
        || allowed_together
            .iter()
            .any(|set| scripts.iter().all(|s| set.contains(s)))
    {
        return Ok(());
    }
    let names: Vec<&str> = scripts.iter().map(|s| s.full_name()).collect();
    Err(UsernameError::MixedScripts(names.join(" and ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 9: these are one user.
    #[test]
    fn case_width_and_spaces_do_not_make_another_user() {
        let key = username_key("alice");
        for same in ["Alice", " alice", "ALICE ", "\talice", "ａｌｉｃｅ"] {
            assert_eq!(username_key(same), key, "{same:?}");
        }
        assert_eq!(username_key("Straße"), username_key("STRASSE"));
        assert_eq!(username_key("CAROL"), username_key(" carol"));
        assert_ne!(username_key("carol"), username_key("caro1"));
    }

    #[test]
    fn stored_form_is_trimmed_nfkc() {
        assert_eq!(normalize_username("  Alice ").unwrap(), "Alice");
        assert_eq!(normalize_username("ａｌｉｃｅ").unwrap(), "alice");
        assert_eq!(normalize_username("Åsa").unwrap(), "Åsa");
    }

    #[test]
    fn look_alikes_and_invisible_characters_are_refused() {
        // Cyrillic а (U+0430) among Latin letters.
        assert!(matches!(
            normalize_username("\u{0430}lice"),
            Err(UsernameError::MixedScripts(_))
        ));
        // Greek ο in a Latin name.
        assert!(matches!(
            normalize_username("b\u{03BF}b"),
            Err(UsernameError::MixedScripts(_))
        ));
        for invisible in [
            "al\u{200B}ice",
            "alice\u{202E}",
            "ali\u{00AD}ce",
            "a\u{0007}",
        ] {
            assert_eq!(normalize_username(invisible), Err(UsernameError::Invisible));
        }
        assert_eq!(normalize_username("   "), Err(UsernameError::Empty));
        assert_eq!(
            normalize_username(&"a".repeat(MAX_USERNAME_CHARS + 1)),
            Err(UsernameError::TooLong)
        );
    }

    #[test]
    fn single_scripts_and_east_asian_mixes_are_fine() {
        for name in [
            "алиса",
            "Ελένη",
            "山田太郎",
            "やまだtaro",
            "김철수",
            "alice.smith-2",
            "José",
        ] {
            assert!(normalize_username(name).is_ok(), "{name}");
        }
    }
}
