//! The master key that encrypts upstream keys at rest: `ENCRYPTION_KEY`, or
//! (lightweight) a key generated once into `<data dir>/secret.key`, mode 0600.

use app::secrets::{KeyCipher, SecretError};
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the generated key inside the data directory.
pub const SECRET_KEY_FILE: &str = "secret.key";

/// Why the master key is unusable.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionKeyError {
    /// `ENCRYPTION_KEY` is malformed.
    #[error("ENCRYPTION_KEY: {0}")]
    Configured(SecretError),
    /// The key file is malformed.
    #[error("{path}: {source} (delete it only if no keys were stored with it)")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: SecretError,
    },
    /// The key file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Builds the cipher from the configured key, or the data dir's key file,
/// generating that file on first start.
///
/// # Errors
/// [`EncryptionKeyError`] naming the variable or file to fix.
pub fn load_or_generate(
    configured: Option<&SecretString>,
    data_dir: &Path,
) -> Result<KeyCipher, EncryptionKeyError> {
    if let Some(key) = configured {
        return KeyCipher::from_base64(key.expose_secret()).map_err(EncryptionKeyError::Configured);
    }
    let path = data_dir.join(SECRET_KEY_FILE);
    let io = |source| EncryptionKeyError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => KeyCipher::from_base64(&text).map_err(|source| EncryptionKeyError::File {
            path: path.clone(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let key = KeyCipher::generate_key_base64();
            write_private(&path, &key).map_err(io)?;
            tracing::info!(path = %path.display(), "generated a new encryption key; back it up with the database");
            KeyCipher::from_base64(&key).map_err(|source| EncryptionKeyError::File {
                path: path.clone(),
                source,
            })
        }
        Err(e) => Err(io(e)),
    }
}

pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_with_private_mode_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(None, dir.path()).unwrap();
        let blob = first.encrypt("sk-test").unwrap();
        let second = load_or_generate(None, dir.path()).unwrap();
        assert!(second.decrypt(&blob).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SECRET_KEY_FILE), "garbage").unwrap();
        let err = load_or_generate(None, dir.path()).unwrap_err();
        assert!(err.to_string().contains("secret.key"), "{err}");
    }
}
