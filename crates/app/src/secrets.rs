//! Encryption of upstream keys at rest (AES-256-GCM), fingerprints for
//! duplicate detection, and generation of random secrets.

use aes_gcm::aead::{Aead, AeadCore, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Prefix of generated client keys, so they are recognisable in configs and leaks scanners.
pub const CLIENT_KEY_PREFIX: &str = "rk-";
const CLIENT_KEY_RANDOM_CHARS: usize = 40;

/// Errors of secret handling; never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The encryption key is not base64 of 32 bytes.
    #[error("must be the base64 encoding of 32 bytes (generate one with `gateway gen-key`)")]
    BadEncryptionKey,
    /// Encryption failed.
    #[error("encryption failed")]
    Encrypt,
    /// A ciphertext cannot be decrypted with this key (wrong key or corrupt data).
    #[error("a stored key cannot be decrypted: wrong ENCRYPTION_KEY or corrupt data")]
    Decrypt,
}

/// Encrypts and fingerprints upstream keys with one master key.
pub struct KeyCipher {
    aead: Aes256Gcm,
    fingerprint_key: [u8; KEY_LEN],
}

impl std::fmt::Debug for KeyCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCipher(..)")
    }
}

impl KeyCipher {
    /// Builds a cipher from the base64 text of a 32-byte key.
    ///
    /// # Errors
    /// [`SecretError::BadEncryptionKey`] when the text is not base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretError::BadEncryptionKey)?;
        let master: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| SecretError::BadEncryptionKey)?;
        let aead = Aes256Gcm::new_from_slice(&master).map_err(|_| SecretError::BadEncryptionKey)?;
        // A separate key for fingerprints, so a fingerprint says nothing about the AES key.
        let fingerprint_key = hmac_sha256(&master, b"api-key-rotator/fingerprint");
        Ok(Self {
            aead,
            fingerprint_key,
        })
    }

    /// A new random key, base64 encoded (what `gateway gen-key` prints).
    #[must_use]
    pub fn generate_key_base64() -> String {
        let mut key = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    /// Encrypts a key value: `nonce || ciphertext`.
    ///
    /// # Errors
    /// [`SecretError::Encrypt`] (practically never).
    pub fn encrypt(&self, plain: &str) -> Result<Vec<u8>, SecretError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .aead
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| SecretError::Encrypt)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(blob)
    }

    /// Decrypts what [`KeyCipher::encrypt`] produced.
    ///
    /// # Errors
    /// [`SecretError::Decrypt`] for a wrong key or corrupt data.
    pub fn decrypt(&self, blob: &[u8]) -> Result<SecretString, SecretError> {
        if blob.len() < NONCE_LEN {
            return Err(SecretError::Decrypt);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let plain = self
            .aead
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SecretError::Decrypt)
    }

    /// Keyed hash of a key value, to find duplicates without decrypting.
    #[must_use]
    pub fn fingerprint(&self, plain: &str) -> String {
        domain::hex::lower(&hmac_sha256(&self.fingerprint_key, plain.as_bytes()))
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        // HMAC accepts keys of any length; this branch cannot be taken.
        return [0; 32];
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `n` random characters from `[0-9A-Za-z]`, drawn without modulo bias.
#[must_use]
pub fn random_base62(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        OsRng.fill_bytes(&mut buf);
        for b in buf {
            // 248 = 62 * 4: reject the top values to stay uniform.
            if b < 248 && out.len() < n {
                out.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    out
}

/// `n` random bytes.
#[must_use]
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A new client key: `rk-` and 40 base62 characters (238 bits).
#[must_use]
pub fn generate_client_key() -> SecretString {
    SecretString::from(format!(
        "{CLIENT_KEY_PREFIX}{}",
        random_base62(CLIENT_KEY_RANDOM_CHARS)
    ))
}

/// Hex SHA-256 of a client key. Client keys are long random strings, so a
/// fast hash is enough (and keeps authentication cheap on the hot path).
#[must_use]
pub fn hash_client_key(key: &str) -> String {
    domain::hex::lower(&Sha256::digest(key.as_bytes()))
}

/// Constant-time equality of two secrets.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn cipher() -> KeyCipher {
        KeyCipher::from_base64(&KeyCipher::generate_key_base64()).unwrap()
    }

    #[test]
    fn round_trip_and_random_nonce() {
        let c = cipher();
        let a = c.encrypt("sk-secret").unwrap();
        let b = c.encrypt("sk-secret").unwrap();
        assert_ne!(a, b);
        assert_eq!(c.decrypt(&a).unwrap().expose_secret(), "sk-secret");
        assert!(!a.windows(9).any(|w| w == b"sk-secret"));
    }

    #[test]
    fn wrong_key_or_tampering_fails() {
        let blob = cipher().encrypt("sk-secret").unwrap();
        assert_eq!(cipher().decrypt(&blob).unwrap_err(), SecretError::Decrypt);
        let c = cipher();
        let mut blob = c.encrypt("sk-secret").unwrap();
        blob[20] ^= 1;
        assert!(c.decrypt(&blob).is_err());
        assert!(c.decrypt(&[1, 2]).is_err());
    }

    #[test]
    fn bad_master_keys_are_rejected() {
        assert!(KeyCipher::from_base64("not base64!").is_err());
        assert!(KeyCipher::from_base64(&STANDARD.encode([0u8; 16])).is_err());
    }

    #[test]
    fn fingerprints_are_stable_and_keyed() {
        let c = cipher();
        assert_eq!(c.fingerprint("k"), c.fingerprint("k"));
        assert_ne!(c.fingerprint("k"), c.fingerprint("j"));
        assert_ne!(c.fingerprint("k"), cipher().fingerprint("k"));
    }

    #[test]
    fn generated_secrets_have_the_documented_shape() {
        let key = generate_client_key();
        assert!(key.expose_secret().starts_with("rk-"));
        assert_eq!(key.expose_secret().len(), 43);
        assert!(random_base62(100)
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(hash_client_key("x").len(), 64);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
