-- The declared length of an offset-based upload (tus, IETF resumable uploads), kept with its
-- session. A table beside `sessions` rather than a column on it: SQLite cannot add a column
-- "if missing", and migrations after 0005 must be able to run again (see upgrade.rs).
-- Set once; the engine refuses any other length afterwards.
CREATE TABLE IF NOT EXISTS upload_lengths (
    session TEXT PRIMARY KEY REFERENCES sessions (id),
    length  INTEGER NOT NULL
);
