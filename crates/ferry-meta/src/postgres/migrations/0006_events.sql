-- Event notifications: each bucket's configuration, and the outbox of events waiting for
-- delivery, written in the transaction of the change that caused them (see the SQLite store's
-- 0007_events.sql for the meaning of the columns).
CREATE TABLE IF NOT EXISTS bucket_notifications (
    bucket TEXT PRIMARY KEY,
    config TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS event_outbox (
    id           TEXT PRIMARY KEY,
    target       TEXT NOT NULL,
    facts        TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'PENDING',
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    claimed_by   TEXT,
    claim_until  BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    created      BIGINT NOT NULL,
    seq          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_outbox_due ON event_outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS event_outbox_order ON event_outbox (seq);
