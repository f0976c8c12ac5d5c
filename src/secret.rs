//! Helpers for secrets on the wire and at rest.
//!
//! Secrets travel as [`SecretString`], whose `Debug` is redacted and whose memory is zeroized on
//! drop. They are serialized only in the few response types that exist to carry them once.

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;
use sha2::{Digest, Sha256};

/// `serialize_with` for the fields that carry a secret to its one reader.
pub fn serialize_secret<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

/// A new random secret: a product prefix (so scanners can spot leaks) and 256 bits of entropy.
pub fn generate(prefix: &str) -> SecretString {
    use base64::Engine as _;
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref());
    SecretString::from(format!("{prefix}{body}"))
}

/// The digest stored in place of a high-entropy secret. A fast hash is enough at 256 bits of
/// entropy; passwords, which are low-entropy, use argon2 instead.
pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time equality for digests.
pub fn digest_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_prefixed_unique_and_redacted_in_debug() {
        let a = generate("dcs_");
        let b = generate("dcs_");
        assert!(a.expose_secret().starts_with("dcs_"));
        assert_eq!(a.expose_secret().len(), 4 + 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(!format!("{a:?}").contains(&a.expose_secret()[4..]));
    }

    #[test]
    fn digest_is_stable_hex_and_compares_in_constant_time() {
        let d = digest("abc");
        assert_eq!(
            d,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(digest_eq(&d, &digest("abc")));
        assert!(!digest_eq(&d, &digest("abd")));
        assert!(!digest_eq(&d, "short"));
    }
}
