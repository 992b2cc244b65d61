-- Access keys besides the admin key: secrets sealed under the master key, grants as a JSON
-- array of their text forms ("bucket/prefix:read,write").
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    secret        BLOB NOT NULL,
    created       INTEGER NOT NULL,
    last_used     INTEGER,
    enabled       INTEGER NOT NULL DEFAULT 1,
    grants        TEXT NOT NULL DEFAULT '[]'
);
