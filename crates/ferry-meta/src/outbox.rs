//! Event outbox rows, mapped the same way by both stores.

use ferry_core::events::{EventFacts, NewEvent, NotificationConfig, OutboxEvent, OutboxState};
use ferry_core::{Error, Millis, Result};

/// The columns an outbox row is read with, in [`event`]'s order.
pub(crate) const OUTBOX_COLUMNS: &str = "id, target, facts, state, attempts, next_attempt, last_error, created";

/// The values an outbox row is written with: id, target, facts (JSON), created, seq.
pub(crate) fn new_row(event: &NewEvent) -> Result<(String, String, String, Millis, String)> {
    Ok((
        event.id.clone(),
        event.target.clone(),
        crate::json(&event.facts)?,
        event.facts.time,
        event.facts.sequencer.clone(),
    ))
}

/// An outbox row read with [`OUTBOX_COLUMNS`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn event(
    id: String,
    target: String,
    facts: &str,
    state: &str,
    attempts: i64,
    next_attempt: Millis,
    last_error: Option<String>,
    created: Millis,
) -> Result<OutboxEvent> {
    let facts: EventFacts =
        serde_json::from_str(facts).map_err(|e| Error::Meta(format!("outbox row {id} is unreadable: {e}")))?;
    let state = match state {
        "PENDING" => OutboxState::Pending,
        "FAILED" => OutboxState::Failed,
        other => return Err(Error::Meta(format!("outbox row {id} has an unknown state {other}"))),
    };
    Ok(OutboxEvent {
        id,
        target,
        facts,
        state,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt,
        last_error,
        created,
    })
}

/// A stored configuration.
pub(crate) fn config(bucket: &str, text: &str) -> Result<NotificationConfig> {
    serde_json::from_str(text)
        .map_err(|e| Error::Meta(format!("the notification configuration of bucket {bucket} is unreadable: {e}")))
}
