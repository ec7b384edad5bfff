//! [`Secret`]: a client secret, HMAC key or nonce secret given as a value,
//! an environment variable or a file, read when the validator is built and
//! never shown in `Debug`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// Largest file the configuration reads itself, in bytes: 64 KiB. A
/// [`Secret::File`] and a `pem_file` must be regular files of at most this
/// size (`/dev/zero`, a FIFO or a directory are refused); a JWKS file
/// (`jwks_file`) is read by the validator builder, with its own limit.
pub const MAX_SECRET_FILE_SIZE: u64 = 64 * 1024;

/// A secret: the value itself, an environment variable, or a file.
///
/// Deserialized from a string, `{ env = "VARIABLE" }` or
/// `{ file = "/path" }`; read when the validator is built. `Debug` never
/// shows a value.
///
/// A file must be a regular file (not a device such as `/dev/zero`, a FIFO
/// or a directory) of at most [`MAX_SECRET_FILE_SIZE`] bytes; a text file
/// loses one final line break (`\n` or `\r\n`), a binary one nothing. [`resolve`](Self::resolve) needs UTF-8
/// text (client secrets, PEM keys); [`resolve_bytes`](Self::resolve_bytes)
/// takes any bytes (HMAC keys and the DPoP nonce secret are read so).
///
/// ```
/// use bearer_guard::config::Secret;
///
/// let secret: Secret = serde_json::from_str(r#"{"env": "INTROSPECTION_SECRET"}"#)?;
/// assert_eq!(secret, Secret::Env("INTROSPECTION_SECRET".into()));
/// let value = secret.resolve_with(|name| (name == "INTROSPECTION_SECRET").then(|| "s3cret".into()))?;
/// assert_eq!(value, "s3cret");
/// assert!(!format!("{:?}", Secret::Value("s3cret".into())).contains("s3cret"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Secret {
    /// The secret itself.
    Value(String),
    /// The value of this environment variable.
    Env(String),
    /// The content of this file (a text file without its final line
    /// break): a regular file of at most [`MAX_SECRET_FILE_SIZE`] bytes.
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Value(<redacted>)"),
            Secret::Env(name) => f.debug_tuple("Env").field(name).finish(),
            Secret::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;

        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a secret: a string, { env = "VARIABLE" } or { file = "/path" }"#)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret::Value(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
                const FIELDS: &[&str] = &["env", "file"];
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        r#"an empty secret table: give { env = "VARIABLE" } or { file = "/path" }"#,
                    ));
                };
                let secret = match key.as_str() {
                    "env" => Secret::Env(map.next_value()?),
                    "file" => Secret::File(map.next_value()?),
                    other => return Err(de::Error::unknown_field(other, FIELDS)),
                };
                if let Some(other) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "a secret is one of env or file, not also `{other}`"
                    )));
                }
                Ok(secret)
            }
        }

        deserializer.deserialize_any(SecretVisitor)
    }
}

impl Secret {
    /// The secret as text, reading the process environment for
    /// [`Secret::Env`]; a file must be UTF-8.
    pub fn resolve(&self) -> Result<String, SecretError> {
        self.resolve_with(process_env)
    }

    /// The secret as text, with `env` as the environment.
    pub fn resolve_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<String, SecretError> {
        self.resolve_dyn(&env)
    }

    /// The secret as bytes (a file need not be UTF-8), reading the process
    /// environment for [`Secret::Env`].
    pub fn resolve_bytes(&self) -> Result<Vec<u8>, SecretError> {
        self.resolve_bytes_with(process_env)
    }

    /// The secret as bytes, with `env` as the environment.
    pub fn resolve_bytes_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<u8>, SecretError> {
        self.bytes_dyn(&env)
    }

    pub(super) fn resolve_dyn(&self, env: Lookup<'_>) -> Result<String, SecretError> {
        let value = match self {
            Secret::Value(v) => v.clone(),
            Secret::Env(name) => env(name).ok_or_else(|| SecretError::EnvNotSet(name.clone()))?,
            Secret::File(path) => {
                String::from_utf8(secret_file(path)?).map_err(|_| SecretError::File {
                    path: path.clone(),
                    source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"),
                })?
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(value)
    }

    pub(super) fn bytes_dyn(&self, env: Lookup<'_>) -> Result<Vec<u8>, SecretError> {
        match self {
            Secret::File(path) => {
                let bytes = secret_file(path)?;
                if bytes.is_empty() {
                    return Err(SecretError::Empty);
                }
                Ok(bytes)
            }
            Secret::Value(_) | Secret::Env(_) => self.resolve_dyn(env).map(String::into_bytes),
        }
    }
}

/// The content of a secret file: a text file loses one final line break
/// (`\n` or `\r\n`, as editors and `echo` add); a binary one (not UTF-8)
/// is taken byte for byte.
fn secret_file(path: &Path) -> Result<Vec<u8>, SecretError> {
    let mut bytes = read_limited(path).map_err(|source| SecretError::File {
        path: path.to_owned(),
        source,
    })?;
    if std::str::from_utf8(&bytes).is_ok() && bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(bytes)
}

/// The content of the regular file `path`, of at most
/// [`MAX_SECRET_FILE_SIZE`] bytes.
pub(super) fn read_limited(path: &Path) -> io::Result<Vec<u8>> {
    crate::file::read_regular(path, MAX_SECRET_FILE_SIZE, "MAX_SECRET_FILE_SIZE")
}

/// Why a [`Secret`] could not be read. Never contains the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable is not set (or not UTF-8).
    #[error("the environment variable {0} is not set")]
    EnvNotSet(String),
    /// The file could not be read: missing, not a regular file, larger
    /// than [`MAX_SECRET_FILE_SIZE`], or (read as text) not UTF-8.
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The secret is empty.
    #[error("the secret is empty")]
    Empty,
}

/// An environment: the value of a variable, if set.
pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment (a variable that is not UTF-8 counts as unset).
pub(super) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
