//! The configuration exactly as written: serde types that mirror the YAML, with every key of
//! the product (including keys of features that are not built), so that the schema accepts
//! what the README shows. Nothing here is validated beyond its type; see `model.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use yaml_serde::Value;

use super::duration::Duration;

// Keys of features that are not built yet are held as written: typed and read when they land.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub version: Option<Scalar>,
    pub global: Option<RawGlobal>,
    /// Global lifecycle hooks (feature `hooks`), kept as written until that feature exists.
    pub hooks: Option<Value>,
    pub processes: Option<BTreeMap<String, RawProcess>>,
}

// Keys of features that are not built yet are held as written: typed and read when they land.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    pub shutdown_timeout: Option<Duration>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub restart_policy: Option<String>,
    pub restart_backoff: Option<Duration>,
    pub restart_backoff_initial: Option<Duration>,
    pub restart_backoff_max: Option<Duration>,
    pub restart_stable_after: Option<Duration>,
    pub max_restart_attempts: Option<i64>,
    pub dependency_timeout: Option<Duration>,
    // Feature `log-processing`.
    pub log_multiline_enabled: Option<bool>,
    pub log_multiline_pattern: Option<String>,
    pub log_multiline_timeout: Option<Value>,
    pub log_multiline_max_lines: Option<i64>,
    pub log_redaction_enabled: Option<bool>,
    pub log_redaction_patterns: Option<Vec<String>>,
    pub log_redaction_placeholder: Option<String>,
    pub log_filter_enabled: Option<bool>,
    pub log_filter_level: Option<String>,
    pub log_filter_patterns: Option<Vec<String>>,
    // Feature `metrics`.
    pub metrics_enabled: Option<bool>,
    pub metrics_port: Option<i64>,
    pub metrics_path: Option<String>,
    pub metrics_host: Option<String>,
    // Feature `api`.
    pub api_enabled: Option<bool>,
    pub api_port: Option<i64>,
    pub api_host: Option<String>,
    pub api_socket: Option<String>,
    pub api_auth: Option<String>,
    // Features `api` and `metrics`: the Go tool's security and resource keys.
    pub api_acl: Option<Value>,
    pub api_tls: Option<Value>,
    pub metrics_acl: Option<Value>,
    pub metrics_tls: Option<Value>,
    pub audit_enabled: Option<bool>,
    pub resource_metrics_enabled: Option<bool>,
    pub resource_metrics_interval: Option<Duration>,
    pub resource_metrics_max_samples: Option<i64>,
    // Feature `autotune`.
    pub autotune_memory_threshold: Option<f64>,
    // Feature `health`: the container readiness file.
    pub readiness_file: Option<String>,
    pub readiness: Option<Value>,
    // Feature `detect`.
    pub framework_setup: Option<bool>,
}

// Keys of features that are not built yet are held as written: typed and read when they land.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcess {
    pub enabled: Option<bool>,
    pub command: Option<CommandLine>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub priority: Option<i64>,
    pub depends_on: Option<Vec<String>>,
    pub scale: Option<i64>,
    pub restart: Option<String>,
    pub env: Option<BTreeMap<String, Scalar>>,
    pub working_dir: Option<String>,
    pub user: Option<Scalar>,
    pub group: Option<Scalar>,
    pub critical: Option<bool>,
    pub shutdown: Option<RawShutdown>,
    // Feature `health`.
    pub health_check: Option<Value>,
    // Feature `hooks`.
    pub hooks: Option<Value>,
    pub pre_start_hook: Option<Value>,
    pub post_start_hook: Option<Value>,
    pub post_stop_hook: Option<Value>,
    // Feature `scheduler` (and `heartbeat`).
    pub schedule: Option<String>,
    pub schedule_timezone: Option<String>,
    pub schedule_timeout: Option<Duration>,
    pub schedule_max_concurrent: Option<i64>,
    pub heartbeat: Option<RawHeartbeat>,
    // Feature `log-processing`.
    pub logging: Option<Value>,
}

// Keys of features that are not built yet are held as written: typed and read when they land.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShutdown {
    pub signal: Option<String>,
    pub timeout: Option<Duration>,
    /// Feature `hooks`.
    pub pre_stop_hook: Option<Value>,
    /// Feature `hooks`: after the pre-stop hook, wait for the process to exit on its own.
    pub wait_for_exit: Option<bool>,
}

/// `heartbeat:` of a scheduled task (feature `heartbeat`).
// Read only by builds with the scheduler.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeartbeat {
    pub enabled: Option<bool>,
    pub url: Option<String>,
    pub timeout: Option<Duration>,
    pub retry_count: Option<i64>,
    pub retry_delay: Option<Duration>,
    pub method: Option<String>,
    pub headers: Option<BTreeMap<String, Scalar>>,
    /// Feature `tls`: PEM file of the CAs to trust instead of the bundled roots.
    pub ca_file: Option<String>,
    /// The Go tool's v1.1 keys: explicit ping URLs instead of `<url>` and `<url>/fail`.
    pub success_url: Option<String>,
    pub failure_url: Option<String>,
    /// The Go tool's current keys (parsed, never used there): refused with an explanation.
    pub interval: Option<Value>,
    pub grace: Option<Value>,
}

/// A command as an argv list, or as one string split on whitespace (no shell is involved).
#[derive(Debug, Clone)]
pub struct CommandLine(pub Vec<String>);

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Errors are raised inside the visitor so that they point at the command itself.
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CommandLine;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a command: a list of strings, or a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CommandLine, E> {
                check(v.split_whitespace().map(str::to_owned).collect())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CommandLine, A::Error> {
                let mut argv = Vec::new();
                while let Some(Scalar(s)) = seq.next_element()? {
                    argv.push(s);
                }
                check(argv)
            }
        }
        fn check<E: serde::de::Error>(argv: Vec<String>) -> Result<CommandLine, E> {
            if argv.first().is_none_or(String::is_empty) {
                return Err(E::custom("command must not be empty"));
            }
            Ok(CommandLine(argv))
        }
        d.deserialize_any(V)
    }
}

/// A scalar written as a string, number or boolean, kept as its text (env values, user ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The struct field names serde expects for `T`, asked from its derived `Deserialize` impl.
/// Used by the schema's unit test to check the key tables against these types.
#[cfg(test)]
pub fn field_names<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
    struct Probe(Vec<&'static str>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for &mut Probe {
        type Error = Stop;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0.extend_from_slice(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut p = Probe(Vec::new());
    let _ = T::deserialize(&mut p);
    p.0
}
