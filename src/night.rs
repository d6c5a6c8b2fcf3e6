//! The night: LST-1 names a night by the UTC date at its start (`YYYY-MM-DD` on the command
//! line, `YYYYMMDD` in file names). Everything that needs "tonight" derives it here, so there
//! is one clock rule: the current night is now minus 12 h, in UTC (LSTOSA mixed local and UTC
//! clocks; see `known-issues.md`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A night, named by the UTC date at its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NightDate(NaiveDate);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid night date {text:?}: expected YYYY-MM-DD (or YYYYMMDD)")]
pub struct NightDateError {
    pub text: String,
}

impl NightDate {
    pub fn new(date: NaiveDate) -> Self {
        Self(date)
    }

    /// The night in progress (or just ended) at `now`: observation nights straddle midnight,
    /// so a morning belongs to the night that started the evening before.
    pub fn current_at(now: DateTime<Utc>) -> Self {
        Self((now - Duration::hours(12)).date_naive())
    }

    pub fn current() -> Self {
        Self::current_at(Utc::now())
    }

    /// The date as file names spell it: `YYYYMMDD`.
    pub fn compact(&self) -> String {
        self.0.format("%Y%m%d").to_string()
    }

    /// Parses the `YYYYMMDD` spelling used in file names.
    pub fn from_compact(text: &str) -> Result<Self, NightDateError> {
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NightDateError { text: text.to_string() });
        }
        NaiveDate::parse_from_str(text, "%Y%m%d").map(Self).map_err(|_| NightDateError { text: text.to_string() })
    }

    pub fn date(&self) -> NaiveDate {
        self.0
    }

    pub fn previous(&self) -> Self {
        Self(self.0 - Duration::days(1))
    }

    pub fn next(&self) -> Self {
        Self(self.0 + Duration::days(1))
    }
}

impl fmt::Display for NightDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for NightDate {
    type Err = NightDateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() == 8 {
            return Self::from_compact(text);
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 10)
            .map(Self)
            .ok_or_else(|| NightDateError { text: text.to_string() })
    }
}

impl Serialize for NightDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NightDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn current_night_is_now_minus_twelve_hours() {
        let morning = Utc.with_ymd_and_hms(2026, 1, 6, 7, 30, 0).unwrap();
        assert_eq!(NightDate::current_at(morning).to_string(), "2026-01-05");
        let evening = Utc.with_ymd_and_hms(2026, 1, 5, 21, 0, 0).unwrap();
        assert_eq!(NightDate::current_at(evening).to_string(), "2026-01-05");
        let noon = Utc.with_ymd_and_hms(2026, 1, 6, 12, 0, 0).unwrap();
        assert_eq!(NightDate::current_at(noon).to_string(), "2026-01-06");
    }

    #[test]
    fn both_spellings_parse_and_print() {
        let night: NightDate = "2020-01-12".parse().unwrap();
        assert_eq!(night.compact(), "20200112");
        assert_eq!("20200112".parse::<NightDate>().unwrap(), night);
        assert_eq!(night.previous().to_string(), "2020-01-11");
        for bad in ["2020-1-12", "2020-02-30", "20201312", "yesterday", "2020-01-12x"] {
            assert!(bad.parse::<NightDate>().is_err(), "{bad} should be refused");
        }
    }
}
