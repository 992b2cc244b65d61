-- Event notifications: each bucket's configuration, and the outbox of events waiting for
-- delivery, written in the transaction of the change that caused them.
CREATE TABLE IF NOT EXISTS bucket_notifications (
    bucket TEXT PRIMARY KEY,
    config TEXT NOT NULL
) WITHOUT ROWID;

-- One row per event and target. A row is handed to one deliverer at a time: claimed_by and
-- claim_until mark the claim; a claim that ran out (its node died) is taken over by another.
-- state is 'PENDING' until delivered (the row is deleted) or, after too many failed attempts,
-- 'FAILED' (a dead letter, kept until retried). seq is the event's sequencer: fixed-width hex that
-- grows with time, the delivery order.
CREATE TABLE IF NOT EXISTS event_outbox (
    id           TEXT PRIMARY KEY,
    target       TEXT NOT NULL,
    facts        TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'PENDING',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    claimed_by   TEXT,
    claim_until  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    created      INTEGER NOT NULL,
    seq          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_outbox_due ON event_outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS event_outbox_order ON event_outbox (seq);
