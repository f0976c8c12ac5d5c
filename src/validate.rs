//! Rules for user-supplied text, shared by the server (which enforces them) and the terminal
//! console (which shows them inline before a request is sent).

use std::fmt;

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

/// An app name: 1–100 characters after trimming, no forbidden characters. Returns it trimmed.
pub fn app_name(raw: &str) -> Result<String, TextError> {
    let name = raw.trim();
    check_chars(name)?;
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
    fn usernames_are_plain_ascii() {
        assert!(username("dev.one@example.com").is_ok());
        assert!(username("").is_err());
        assert!(username("two words").is_err());
    }
}
