//! Rules for user-supplied text, shared by the server (which enforces them) and the terminal
//! console (which shows them inline before a request is sent).

use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
use unicode_security::GeneralSecurityProfile;
use unicode_security::general_security_profile::IdentifierType;

pub const APP_NAME_MAX: usize = 100;
pub const APP_DESCRIPTION_MAX: usize = 500;
pub const USERNAME_MAX: usize = 64;

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    Empty,
    TooLong {
        max: usize,
        got: usize,
    },
    /// A control character or a bidi override/isolate, which could disguise the text on screen.
    ForbiddenChar {
        ch: char,
        position: usize,
    },
    /// An invisible, format or look-alike-making character in a name (zero-width space, word
    /// joiner, soft hyphen, Hangul filler, a non-ASCII space or line separator, …).
    InvisibleChar {
        ch: char,
        position: usize,
    },
    BadUsername,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Empty => write!(f, "must not be empty"),
            TextError::TooLong { max, got } => {
                write!(f, "must be at most {max} characters (got {got})")
            }
            TextError::ForbiddenChar { ch, position } => write!(
                f,
                "contains a control or bidirectional-override character U+{:04X} at position {}",
                *ch as u32,
                position + 1
            ),
            TextError::InvisibleChar { ch, position } => write!(
                f,
                "contains U+{:04X} at position {}, an invisible, format or space character that \
                 could make the name look like another; use plain spaces and visible characters",
                *ch as u32,
                position + 1
            ),
            TextError::BadUsername => write!(
                f,
                "may contain only letters, digits, '.', '_', '-' and '@' (1 to {USERNAME_MAX} characters)"
            ),
        }
    }
}

/// Control characters, and the bidi embeddings/overrides (U+202A–U+202E), isolates
/// (U+2066–U+2069) and marks that can make text render differently from what it is.
pub fn is_forbidden(ch: char) -> bool {
    ch.is_control()
        || matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(ch, '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn check_chars(s: &str) -> Result<(), TextError> {
    match s.chars().enumerate().find(|(_, c)| is_forbidden(*c)) {
        Some((position, ch)) => Err(TextError::ForbiddenChar { ch, position }),
        None => Ok(()),
    }
}

/// Characters a name may not contain before normalisation: anything NFKC could turn into
/// something that hides (a no-break space becomes a space, so "a\u{A0}b" would otherwise pass as
/// a twin of "a b"), format characters and default-ignorable code points (U+200B, U+2060, U+FEFF,
/// U+00AD, U+3164, …), and every space or line separator but the ASCII space.
fn is_invisible(ch: char) -> bool {
    (ch.is_whitespace() && ch != ' ')
        || ch.general_category_group() == GeneralCategoryGroup::Other
        || ch.identifier_type() == Some(IdentifierType::Default_Ignorable)
}

/// After NFKC: ASCII printable, characters UTS #39 allows in identifiers (letters and digits of
/// the scripts in use today), and visible punctuation and symbols. This refuses unassigned and
/// private-use code points and restricted scripts.
fn allowed_in_name(ch: char) -> bool {
    ch == ' '
        || ch.is_ascii_graphic()
        || ch.identifier_allowed()
        || matches!(
            ch.general_category_group(),
            GeneralCategoryGroup::Punctuation | GeneralCategoryGroup::Symbol
        )
}

/// An app name: NFKC-normalised, 1–100 characters after trimming, no control, bidi, invisible or
/// format characters. Returns the normalised name.
pub fn app_name(raw: &str) -> Result<String, TextError> {
    let raw = raw.trim_matches(' ');
    check_chars(raw)?;
    if let Some((position, ch)) = raw.chars().enumerate().find(|(_, c)| is_invisible(*c)) {
        return Err(TextError::InvisibleChar { ch, position });
    }
    let name: String = raw.nfkc().collect();
    let name = name.trim_matches(' ');
    if let Some((position, ch)) = name.chars().enumerate().find(|(_, c)| !allowed_in_name(*c)) {
        return Err(TextError::InvisibleChar { ch, position });
    }
    let len = name.chars().count();
    if len == 0 {
        return Err(TextError::Empty);
    }
    if len > APP_NAME_MAX {
        return Err(TextError::TooLong {
            max: APP_NAME_MAX,
            got: len,
        });
    }
    Ok(name.to_owned())
}

/// An app description: at most 500 characters, no forbidden characters except newlines and tabs.
pub fn app_description(raw: &str) -> Result<String, TextError> {
    let desc = raw.trim();
    if let Some((position, ch)) = desc
        .chars()
        .enumerate()
        .find(|(_, c)| *c != '\n' && *c != '\t' && is_forbidden(*c))
    {
        return Err(TextError::ForbiddenChar { ch, position });
    }
    let len = desc.chars().count();
    if len > APP_DESCRIPTION_MAX {
        return Err(TextError::TooLong {
            max: APP_DESCRIPTION_MAX,
            got: len,
        });
    }
    Ok(desc.to_owned())
}

/// An admin username: ASCII letters, digits and `._-@`.
pub fn username(raw: &str) -> Result<String, TextError> {
    let ok = !raw.is_empty()
        && raw.len() <= USERNAME_MAX
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(TextError::BadUsername)
    }
}

/// The key that makes names unique regardless of case.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// What makes app names unique: the UTS #39 confusable skeleton of the lower-cased NFKC name,
/// so "Okta", "okta", "0kta" and a Cyrillic "Оkta" all clash. Lower-casing first makes it
/// case-insensitive; the skeleton then folds look-alikes across scripts.
pub fn name_skeleton(name: &str) -> String {
    let lowered: String = name.nfkc().collect::<String>().to_lowercase();
    let once: String = unicode_security::skeleton(&lowered).collect();
    // The skeleton can map to upper-case prototypes ("0" → "O"); fold again so case stays moot.
    unicode_security::skeleton(&once.to_lowercase()).collect()
}

/// How an anonymous caller's claimed name (a username at sign-in, a `client_id` at the OAuth
/// endpoint) is written to the audit log. A name that could be real is kept as sent; anything
/// else (too long, odd characters: often a password pasted into the wrong field) is stored only
/// as a marked length and a short digest, never its content, so it cannot fill the disk or leak.
pub fn claimed_name_for_log(raw: &str, looks_valid: bool) -> String {
    if looks_valid {
        raw.to_owned()
    } else {
        let digest = crate::secret::digest(raw);
        format!(
            "(invalid: {} chars, #{})",
            raw.chars().count(),
            &digest[..digest.len().min(8)]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_trimmed_and_bounded() {
        assert_eq!(app_name("  Okta sync ").unwrap(), "Okta sync");
        assert_eq!(app_name("   "), Err(TextError::Empty));
        assert_eq!(app_name(&"あ".repeat(100)).unwrap().chars().count(), 100);
        assert!(matches!(
            app_name(&"a".repeat(101)),
            Err(TextError::TooLong { .. })
        ));
    }

    #[test]
    fn control_and_bidi_characters_are_refused() {
        for bad in [
            "a\u{1b}[31m",
            "evil\u{202E}gpj.exe",
            "x\u{2066}y",
            "tab\there",
            "nul\0",
        ] {
            assert!(
                matches!(app_name(bad), Err(TextError::ForbiddenChar { .. })),
                "{bad:?} was accepted"
            );
        }
        assert!(app_description("line one\nline two").is_ok());
        assert!(app_description("bell\u{7}").is_err());
    }

    #[test]
    fn look_alike_names_are_refused_or_share_a_skeleton() {
        for bad in [
            "Ok\u{200B}ta",
            "Ok\u{2060}ta",
            "\u{FEFF}Okta",
            "Ok\u{AD}ta",
            "Ok\u{3164}ta",
            "Ok\u{2028}ta",
            "Ok\u{2029}ta",
            "Okta\u{A0}sync",
            "Okta\u{3000}sync",
        ] {
            assert!(
                matches!(app_name(bad), Err(TextError::InvisibleChar { .. })),
                "{bad:?} was accepted"
            );
        }
        let latin = app_name("Okta sync").unwrap();
        let cyrillic = app_name("\u{041E}kta sync").unwrap();
        assert_eq!(name_skeleton(&latin), name_skeleton(&cyrillic));
        assert_eq!(name_skeleton("OKTA SYNC"), name_skeleton("okta sync"));
        assert_eq!(
            app_name("Ｏｋｔａ").unwrap(),
            "Okta",
            "NFKC folds full-width letters"
        );
        assert_ne!(name_skeleton("Okta"), name_skeleton("Entra"));
        assert_eq!(
            app_name("人事 同期 — Okta (本番)").unwrap(),
            "人事 同期 — Okta (本番)"
        );
    }

    #[test]
    fn invalid_claimed_names_are_logged_without_content() {
        let pasted = "hunter2!hunter2!";
        let logged = claimed_name_for_log(pasted, false);
        assert!(!logged.contains("hunter"), "{logged}");
        assert!(logged.starts_with("(invalid: 16 chars, #"));
        assert_eq!(claimed_name_for_log("ann", true), "ann");
    }

    #[test]
    fn usernames_are_plain_ascii() {
        assert!(username("dev.one@example.com").is_ok());
        assert!(username("").is_err());
        assert!(username("two words").is_err());
    }
}
