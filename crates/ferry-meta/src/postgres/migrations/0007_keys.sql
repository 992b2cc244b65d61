-- Access keys besides the admin key: secrets sealed under the master key, grants as a JSON
-- array of their text forms ("bucket/prefix:read,write").
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    secret        BYTEA NOT NULL,
    created       BIGINT NOT NULL,
    last_used     BIGINT,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    grants        TEXT NOT NULL DEFAULT '[]'
);
