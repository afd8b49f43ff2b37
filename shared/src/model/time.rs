//! Calendar days (`YYYY-MM-DD`) and instants (RFC 3339, UTC) as the contract writes them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{format_description::well_known::Rfc3339, macros::format_description, OffsetDateTime};

/// A calendar day, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(time::Date);

const DAY_FORMAT: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

impl Day {
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != 10 {
            return None;
        }
        time::Date::parse(raw, DAY_FORMAT).ok().map(Day)
    }

    pub fn today() -> Self {
        Day(OffsetDateTime::now_utc().date())
    }

    /// This day `days` later (earlier when negative); saturates at the calendar's ends.
    pub fn plus_days(&self, days: i64) -> Self {
        Day(self.0.saturating_add(time::Duration::days(days)))
    }

    pub fn from_date(date: time::Date) -> Self {
        Day(date)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = (self.0.year(), u8::from(self.0.month()), self.0.day());
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Day::parse(&raw).ok_or_else(|| {
            serde::de::Error::custom(format!("`{raw}` is not a date of the form YYYY-MM-DD"))
        })
    }
}

/// A point in time, written RFC 3339 in UTC with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(OffsetDateTime);

impl Instant {
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        // Millisecond precision keeps the text form fixed-width, so it also sorts as text.
        let millis = now.millisecond();
        Instant(now.replace_millisecond(millis).unwrap_or(now))
    }

    pub fn day(&self) -> Day {
        Day(self.0.date())
    }

    pub fn unix_millis(&self) -> i128 {
        self.0.unix_timestamp_nanos() / 1_000_000
    }

    pub fn unix_secs(&self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn from_unix_secs(secs: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(secs).ok().map(Instant)
    }

    /// This instant `days` later (earlier when negative).
    pub fn plus_days(&self, days: i64) -> Self {
        Instant(self.0.saturating_add(time::Duration::days(days)))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        OffsetDateTime::parse(&raw, &Rfc3339)
            .map(|t| Instant(t.to_offset(time::UtcOffset::UTC)))
            .map_err(|_| serde::de::Error::custom(format!("`{raw}` is not an RFC 3339 instant")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_refuse_other_shapes() {
        let d = Day::parse("2024-02-29").expect("leap day");
        assert_eq!(d.to_string(), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2024-2-1",
            "24-01-01",
            "2024-01-01T00:00:00Z",
            "",
        ] {
            assert!(Day::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn instants_are_utc_with_millis() {
        let text = Instant::now().to_string();
        assert_eq!(text.len(), 24, "{text}");
        assert!(text.ends_with('Z'));
        let back: Instant = serde_json::from_value(serde_json::Value::String(text.clone()))
            .expect("parses its own form");
        assert_eq!(back.to_string(), text);
    }
}
