//! Resolving one setting from the environment or the file (the environment wins), collecting
//! every bad value instead of stopping at the first.

use std::time::Duration;

use super::ConfigError;
use crate::duration::parse_duration;
use crate::env::Env;

/// Collects values, errors and warnings while resolving.
pub(super) struct Resolver<'a> {
    pub(super) env: &'a dyn Env,
    pub(super) errors: Vec<ConfigError>,
    pub(super) warnings: Vec<String>,
}

impl Resolver<'_> {
    pub(super) fn warn(&mut self, key: &str, why: &str) {
        self.warnings.push(format!("{key} is not used: {why}"));
    }

    /// The env value, else the first file spelling that is set, with the key that supplied it.
    pub(super) fn pick_first(
        &self,
        env_key: &str,
        files: Vec<(&str, Option<String>)>,
    ) -> Option<(String, String)> {
        self.env
            .get(env_key)
            .map(|v| (env_key.to_owned(), v))
            .or_else(|| {
                files
                    .into_iter()
                    .find_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            })
    }

    /// Like [`Self::duration`] over several file spellings.
    pub(super) fn duration_first(
        &mut self,
        env_key: &str,
        files: Vec<(&str, Option<String>)>,
        default: Duration,
    ) -> Duration {
        match self.pick_first(env_key, files) {
            None => default,
            Some((key, raw)) => parse_duration(&raw).unwrap_or_else(|| {
                self.error(
                    &key,
                    &raw,
                    "must be a duration such as 30s, 15m, 2m0s or 100ms",
                );
                default
            }),
        }
    }

    pub(super) fn error(&mut self, key: &str, value: &str, problem: impl Into<String>) {
        self.errors.push(ConfigError {
            key: key.to_owned(),
            value: value.to_owned(),
            problem: problem.into(),
        });
    }

    /// The env value, else the file value, with the key that supplied it.
    pub(super) fn pick(
        &self,
        env_key: &str,
        file_key: &str,
        file: Option<String>,
    ) -> Option<(String, String)> {
        self.env
            .get(env_key)
            .map(|v| (env_key.to_owned(), v))
            .or_else(|| file.map(|v| (file_key.to_owned(), v)))
    }

    pub(super) fn duration(
        &mut self,
        env_key: &str,
        file_key: &str,
        file: Option<String>,
        default: Duration,
    ) -> Duration {
        match self.pick(env_key, file_key, file) {
            None => default,
            Some((key, raw)) => parse_duration(&raw).unwrap_or_else(|| {
                self.error(
                    &key,
                    &raw,
                    "must be a duration such as 30s, 15m, 2m0s or 100ms",
                );
                default
            }),
        }
    }

    pub(super) fn number<T: std::str::FromStr + ToString>(
        &mut self,
        env_key: &str,
        file_key: &str,
        file: Option<T>,
        default: T,
        valid: impl Fn(&T) -> bool,
        allowed: &str,
    ) -> T {
        let (key, raw) = match (self.env.get(env_key), file) {
            (Some(v), _) => (env_key.to_owned(), v),
            (None, Some(v)) => (file_key.to_owned(), v.to_string()),
            (None, None) => return default,
        };
        match raw.trim().parse::<T>() {
            Ok(v) if valid(&v) => v,
            _ => {
                self.error(&key, &raw, allowed);
                default
            }
        }
    }
}
