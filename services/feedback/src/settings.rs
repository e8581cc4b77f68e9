//! Feedback's own settings, from the environment (the shared ones are in `flywheel_runtime::Config`).

use std::time::Duration;

/// What the operator tunes: survey lifetime, the duplicate rule, rate limits, Open311 keys.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `FEEDBACK_SURVEY_DAYS`: days a satisfaction survey stays open (default 7).
    pub survey_open_for: Duration,
    /// `FEEDBACK_DUPLICATE_RADIUS_M`: how close two reports must be to be duplicates (default 100).
    pub duplicate_radius_m: f64,
    /// `FEEDBACK_DUPLICATE_WINDOW_HOURS`: how recent the open report must be (default 72).
    pub duplicate_window: Duration,
    /// `FEEDBACK_RATE_PER_RESIDENT_PER_HOUR`: reports and supports one resident may file per hour
    /// (default 20).
    pub per_resident_per_hour: u64,
    /// `FEEDBACK_RATE_PER_CHANNEL_PER_MINUTE`: reports one channel may take per minute (default 600).
    pub per_channel_per_minute: u64,
    /// `FEEDBACK_OPEN311_API_KEYS`: comma-separated keys of which Open311 POSTs must name one as
    /// `api_key` (default none: any client may post).
    pub open311_api_keys: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            survey_open_for: Duration::from_secs(7 * 86_400),
            duplicate_radius_m: 100.0,
            duplicate_window: Duration::from_secs(72 * 3600),
            per_resident_per_hour: 20,
            per_channel_per_minute: 600,
            open311_api_keys: Vec::new(),
        }
    }
}

/// A feedback variable that is set but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {variable}={value:?} is invalid: {reason}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`; unset or blank variables keep their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let d = Self::default();
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty()).map(|v| (name, v));
        let positive = |name: &'static str, default: u64| match get(name) {
            None => Ok(default),
            Some((variable, value)) => match value.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(SettingsError { variable, value, reason: "must be a positive whole number" }),
            },
        };
        let radius = match get("FEEDBACK_DUPLICATE_RADIUS_M") {
            None => d.duplicate_radius_m,
            Some((variable, value)) => match value.trim().parse::<f64>() {
                Ok(m) if m.is_finite() && (0.0..=5000.0).contains(&m) => m,
                _ => return Err(SettingsError { variable, value, reason: "must be metres within 0..5000" }),
            },
        };
        let keys = get("FEEDBACK_OPEN311_API_KEYS")
            .map(|(_, v)| v.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Self {
            survey_open_for: Duration::from_secs(positive("FEEDBACK_SURVEY_DAYS", 7)? * 86_400),
            duplicate_radius_m: radius,
            duplicate_window: Duration::from_secs(positive("FEEDBACK_DUPLICATE_WINDOW_HOURS", 72)? * 3600),
            per_resident_per_hour: positive("FEEDBACK_RATE_PER_RESIDENT_PER_HOUR", d.per_resident_per_hour)?,
            per_channel_per_minute: positive("FEEDBACK_RATE_PER_CHANNEL_PER_MINUTE", d.per_channel_per_minute)?,
            open311_api_keys: keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults_and_overrides() {
        let s = load(&[("FEEDBACK_SURVEY_DAYS", "3"), ("FEEDBACK_OPEN311_API_KEYS", "a, b,")]).unwrap();
        assert_eq!(s.survey_open_for, Duration::from_secs(3 * 86_400));
        assert_eq!(s.open311_api_keys, ["a", "b"]);
        assert_eq!(s.duplicate_radius_m, 100.0);
    }

    #[test]
    fn errors_name_the_variable() {
        let err = load(&[("FEEDBACK_DUPLICATE_WINDOW_HOURS", "soon")]).unwrap_err();
        assert_eq!(err.variable, "FEEDBACK_DUPLICATE_WINDOW_HOURS");
        assert!(err.to_string().contains("FEEDBACK_DUPLICATE_WINDOW_HOURS"));
        assert!(load(&[("FEEDBACK_DUPLICATE_RADIUS_M", "-1")]).is_err());
        assert!(load(&[("FEEDBACK_SURVEY_DAYS", "0")]).is_err());
    }
}
