//! Analytics' own settings, beside the runtime's: the operator's time zone and league and
//! dashboard defaults.

use crate::domain::time::parse_zone;
use chrono_tz::Tz;

#[derive(Clone, Debug)]
pub struct Settings {
    /// `ANALYTICS_TIME_ZONE`: the default zone for buckets (default `Asia/Shanghai`).
    pub time_zone: Tz,
    /// `ANALYTICS_LEAGUE_MIN_VOLUME`: resolutions a site needs to be ranked (default 20).
    pub league_min_volume: i64,
    /// `ANALYTICS_DASHBOARD_DAYS`: how many days the dashboard shows (default 30).
    pub dashboard_days: i64,
    /// `ANALYTICS_DASHBOARD_REFRESH_S`: how often the dashboard page reloads itself (default 60).
    pub dashboard_refresh_s: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { time_zone: chrono_tz::Asia::Shanghai, league_min_volume: 20, dashboard_days: 30, dashboard_refresh_s: 60 }
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut s = Self::default();
        if let Some(zone) = get("ANALYTICS_TIME_ZONE") {
            s.time_zone = parse_zone(&zone).map_err(|e| anyhow::anyhow!("ANALYTICS_TIME_ZONE={zone:?}: {e}"))?;
        }
        let positive = |name: &str, default: i64| -> anyhow::Result<i64> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| anyhow::anyhow!("{name}={v:?}: expected a positive integer")),
            }
        };
        s.league_min_volume = positive("ANALYTICS_LEAGUE_MIN_VOLUME", s.league_min_volume)?;
        s.dashboard_days = positive("ANALYTICS_DASHBOARD_DAYS", s.dashboard_days)?.min(366);
        s.dashboard_refresh_s = positive("ANALYTICS_DASHBOARD_REFRESH_S", 60)?.min(86_400) as u32;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_and_validate_the_environment() {
        let s = Settings::from_lookup(|n| (n == "ANALYTICS_TIME_ZONE").then(|| "Europe/Berlin".into())).unwrap();
        assert_eq!(s.time_zone, chrono_tz::Europe::Berlin);
        assert_eq!(s.league_min_volume, 20);
        assert!(Settings::from_lookup(|n| (n == "ANALYTICS_TIME_ZONE").then(|| "Asia/Kolkata".into())).is_err());
        assert!(Settings::from_lookup(|n| (n == "ANALYTICS_LEAGUE_MIN_VOLUME").then(|| "-3".into())).is_err());
    }
}
