//! Check-ins in the sandbox's memory: whether a pass may check in at an event now (one per
//! passholder, event and day, around an occurrence), checking in, and undoing one.

use chrono::{DateTime, Utc};

use super::super::dataset::{EventData, PassData, Period};
use super::super::problem::{EndUserMessage, Problem};
use super::{Checkin, World, holder_id};

impl World {
    /// Whether a pass may check in at an event now: the pass, or why not. One check-in per
    /// passholder, event and day, from two hours before until two hours after an occurrence.
    fn may_check_in(&self, number: &str, event_id: &str, now: DateTime<Utc>) -> Result<PassData, Problem> {
        let pass = self.usable_pass(number, now)?;
        let event = self.event(event_id).ok_or_else(Problem::event_not_found)?;
        if event.card_systems.is_empty() {
            return Err(Problem::checkin_not_allowed(EndUserMessage::new(
                "Dit evenement neemt niet deel aan UiTPAS: je kan hier geen punten sparen.",
                "This event does not take part in UiTPAS: you cannot earn points here.",
            )));
        }
        if !event.card_systems.contains(&pass.card_system) {
            return Err(Problem::no_active_card_systems());
        }
        let margin = chrono::Duration::hours(2);
        if let Some(windows) = &event.checkin_windows
            && !windows.iter().any(|(s, e)| now >= *s - margin && now <= *e + margin)
        {
            let message = if windows.iter().all(|(s, _)| now < *s - margin) {
                EndUserMessage::new(
                    "Deze activiteit is nog niet begonnen, je kan op deze activiteit nog geen punt sparen.",
                    "This event has not started yet: you cannot earn a point at it yet.",
                )
            } else if windows.iter().all(|(_, e)| now > *e + margin) {
                // publiq's own wording (the example of get-checkin-status).
                EndUserMessage::new(
                    "Deze activiteit is afgelopen, je kan op deze activiteit geen punt meer sparen.",
                    "This event has ended: you can no longer earn a point at it.",
                )
            } else {
                EndUserMessage::new(
                    "Je kan alleen een punt sparen tijdens de activiteit.",
                    "You can only earn a point during the event.",
                )
            };
            return Err(Problem::checkin_not_allowed(message));
        }
        let today = Period::Day.since(now);
        if self
            .checkins
            .iter()
            .any(|c| c.uitpas_number == pass.number && c.event_id == event_id && c.at >= today)
        {
            return Err(Problem::checkin_not_allowed(EndUserMessage::new(
                "Je hebt vandaag al een punt gespaard op deze activiteit.",
                "You have already earned a point at this event today.",
            )));
        }
        Ok(pass)
    }

    /// `POST /checkins`: the passholder earns a point, when [`Self::may_check_in`] allows it.
    pub fn checkin(&mut self, number: &str, event_id: &str, now: DateTime<Utc>) -> Result<(Checkin, i64), Problem> {
        let pass = self.may_check_in(number, event_id, now)?;
        let checkin = Checkin {
            id: uuid::Uuid::new_v4().to_string(),
            event_id: event_id.to_owned(),
            uitpas_number: pass.number.clone(),
            at: now,
        };
        self.checkins.push(checkin.clone());
        *self.points.entry(pass.number.clone()).or_insert(0) += 1;
        Ok((checkin, 1))
    }

    /// `GET /checkin-status`: `Ok(None)` when a check-in is allowed now, `Ok(Some(message))` with
    /// the reason when it is not; a pass or event that UiTPAS does not know is an error.
    pub fn checkin_status(
        &self,
        number: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<EndUserMessage>, Problem> {
        let not_found = |p: Problem| {
            let mut p = p;
            p.status = axum::http::StatusCode::NOT_FOUND.as_u16();
            p
        };
        if self.event(event_id).is_none() {
            return Err(not_found(Problem::event_not_found()));
        }
        match self.may_check_in(number, event_id, now) {
            Ok(_) => Ok(None),
            Err(p) if p.kind.ends_with("/passholder-not-found") || p.kind.ends_with("/invalid-uitpasnumber") => {
                Err(not_found(Problem::passholder_not_found()))
            }
            Err(p) => Ok(Some(p.end_user_message.unwrap_or_else(|| {
                EndUserMessage::new("Je kan hier nu geen punt sparen.", "You cannot earn a point here now.")
            }))),
        }
    }

    pub fn checkin_by_id(&self, id: &str) -> Option<&Checkin> {
        self.checkins.iter().find(|c| c.id == id)
    }

    /// `DELETE /checkins/{id}`: the check-in is undone and its point taken back.
    pub fn delete_checkin(&mut self, id: &str) -> Result<Checkin, Problem> {
        let Some(i) = self.checkins.iter().position(|c| c.id == id) else {
            return Err(Problem::not_found_url().detail("No check-in with this id."));
        };
        let checkin = self.checkins.remove(i);
        *self.points.entry(checkin.uitpas_number.clone()).or_insert(0) -= 1;
        Ok(checkin)
    }

    /// `GET /checkins`: the check-ins of a passholder at events of some organizers, newest first,
    /// with the total and one page.
    pub fn checkins_of(
        &self,
        passholder_id: &str,
        organizers: &[String],
        event_title: Option<&str>,
        start: usize,
        limit: usize,
    ) -> (usize, Vec<(&Checkin, Option<&EventData>)>) {
        let now = Utc::now();
        let title = event_title.map(str::to_lowercase);
        let found: Vec<(&Checkin, Option<&EventData>)> = self
            .checkins
            .iter()
            .rev()
            .filter(|c| holder_id(&c.uitpas_number, now).as_deref() == Some(passholder_id))
            .map(|c| (c, self.event(&c.event_id)))
            .filter(|(_, e)| {
                e.and_then(|e| e.organizer.as_ref())
                    .is_some_and(|o| organizers.contains(o))
            })
            .filter(|(_, e)| {
                title
                    .as_deref()
                    .is_none_or(|t| e.is_some_and(|e| e.name.to_lowercase().contains(t)))
            })
            .collect();
        let total = found.len();
        (total, found.into_iter().skip(start).take(limit).collect())
    }
}
