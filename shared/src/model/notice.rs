//! Notices: the e-mails an agreement's signing contact gets (a portal link, reminders, the
//! receipt of acceptance). Each is a step of the agreement; a step is sent at most once.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Day, HistoryAction, Id};

/// One e-mail of an agreement, named so that sending it twice is recognisable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NoticeStep {
    /// The portal link of a bulk onboarding (`notify`).
    Link,
    /// The reminder on day `n` after the agreement was created.
    Reminder(u16),
    /// A reminder staff asked for (`POST /agreements/{id}/remind`), one per request.
    Manual(Id),
    /// The receipt of the acceptance of a document version.
    Receipt(String),
    /// The portal link asking an accepted agreement's signer to accept a new document version
    /// (a version published with `requires_reacceptance` and `notify`).
    Reaccept(String),
    /// The reminder on day `n` after a document version asking for re-acceptance was published,
    /// while the agreement still awaits it.
    ReacceptReminder { version: String, day: u16 },
}

impl NoticeStep {
    /// The step's name: also the attribute of the agreement that records it.
    pub fn key(&self) -> String {
        match self {
            NoticeStep::Link => "link".into(),
            NoticeStep::Reminder(day) => format!("reminder:{day}"),
            NoticeStep::Manual(id) => format!("remind:{id}"),
            NoticeStep::Receipt(version) => format!("receipt:{version}"),
            NoticeStep::Reaccept(version) => format!("reaccept:{version}"),
            NoticeStep::ReacceptReminder { version, day } => {
                format!("reaccept-reminder:{day}:{version}")
            }
        }
    }

    pub fn parse(raw: &str) -> Option<NoticeStep> {
        match raw.split_once(':') {
            None if raw == "link" => Some(NoticeStep::Link),
            Some(("reminder", day)) => day.parse().ok().map(NoticeStep::Reminder),
            Some(("remind", id)) => Id::parse(id).map(NoticeStep::Manual),
            Some(("receipt", version)) if !version.is_empty() && version.len() <= 64 => {
                Some(NoticeStep::Receipt(version.to_string()))
            }
            Some(("reaccept", version)) if !version.is_empty() && version.len() <= 64 => {
                Some(NoticeStep::Reaccept(version.to_string()))
            }
            Some(("reaccept-reminder", rest)) => {
                let (day, version) = rest.split_once(':')?;
                if version.is_empty() || version.len() > 64 {
                    return None;
                }
                Some(NoticeStep::ReacceptReminder {
                    version: version.to_string(),
                    day: day.parse().ok()?,
                })
            }
            _ => None,
        }
    }

    /// The history event a sent step leaves.
    pub fn action(&self) -> HistoryAction {
        match self {
            NoticeStep::Link | NoticeStep::Reaccept(_) => HistoryAction::LinkSent,
            NoticeStep::Reminder(_)
            | NoticeStep::Manual(_)
            | NoticeStep::ReacceptReminder { .. } => HistoryAction::ReminderSent,
            NoticeStep::Receipt(_) => HistoryAction::ReceiptSent,
        }
    }

    /// Steps that ask for a signature carry a portal link and only go to an agreement that
    /// still awaits one; the receipt goes to an accepted agreement.
    pub fn asks_for_signature(&self) -> bool {
        !matches!(self, NoticeStep::Receipt(_))
    }
}

impl fmt::Display for NoticeStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// What an agreement's item records of a step: claimed by a sender, then sent or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum NoticeRecord {
    /// A sender took the step at `at` (epoch ms) under `claim`; it sends, then records the result.
    Sending {
        claim: String,
        at: i64,
    },
    Sent {
        at: String,
        message_id: String,
    },
    Failed {
        at: String,
        reason: String,
    },
}

/// The reminder days: after an agreement's creation, while it is pending and not declined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderCadence(Vec<u16>);

impl ReminderCadence {
    /// `3,7,14`: distinct days from 1 to 365, in any order.
    pub fn parse(raw: &str) -> Result<ReminderCadence, String> {
        let mut days = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let day: u16 = part
                .parse()
                .map_err(|_| format!("`{part}` is not a number of days"))?;
            if !(1..=365).contains(&day) {
                return Err(format!("{day}: a reminder day is from 1 to 365"));
            }
            days.push(day);
        }
        days.sort_unstable();
        days.dedup();
        if days.is_empty() {
            return Err("no reminder days".into());
        }
        Ok(ReminderCadence(days))
    }

    pub fn days(&self) -> &[u16] {
        &self.0
    }

    /// The creation days whose agreements are due a reminder on `today`, per step, looking
    /// `catch_up` days back so that a missed daily run is made good by the next one.
    pub fn due_on(&self, today: Day, catch_up: u16) -> Vec<(NoticeStep, Day, Day)> {
        self.0
            .iter()
            .map(|&n| {
                let newest = today.plus_days(-i64::from(n));
                let oldest = newest.plus_days(-i64::from(catch_up));
                (NoticeStep::Reminder(n), oldest, newest)
            })
            .collect()
    }
}

impl Default for ReminderCadence {
    fn default() -> Self {
        ReminderCadence(vec![3, 7, 14])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_through_their_keys() {
        for step in [
            NoticeStep::Link,
            NoticeStep::Reminder(7),
            NoticeStep::Manual(Id::generate()),
            NoticeStep::Receipt("2024-01".into()),
            NoticeStep::Reaccept("2025-06".into()),
            NoticeStep::ReacceptReminder {
                version: "v2:final".into(),
                day: 14,
            },
        ] {
            assert_eq!(NoticeStep::parse(&step.key()), Some(step.clone()));
        }
        for bad in [
            "",
            "links",
            "reminder:x",
            "remind:nope",
            "receipt:",
            "other:1",
            "reaccept-reminder:3",
            "reaccept-reminder:x:v2",
            "reaccept-reminder:3:",
        ] {
            assert_eq!(NoticeStep::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_cadence_is_parsed_and_bounded() {
        assert_eq!(
            ReminderCadence::parse("14, 3,7,3").map(|c| c.days().to_vec()),
            Ok(vec![3, 7, 14])
        );
        for bad in ["", "0", "366", "a", "3,,x"] {
            assert!(ReminderCadence::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn due_days_look_back_by_the_catch_up() {
        let today = Day::parse("2026-12-10").expect("day");
        let due = ReminderCadence::default().due_on(today, 2);
        assert_eq!(
            due[0],
            (
                NoticeStep::Reminder(3),
                Day::parse("2026-12-05").expect("day"),
                Day::parse("2026-12-07").expect("day")
            )
        );
        assert_eq!(due.len(), 3);
    }
}
