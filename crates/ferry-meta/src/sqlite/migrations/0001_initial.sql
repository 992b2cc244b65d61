-- The first schema: buckets, upload sessions and their parts, objects and their manifests, and
-- the garbage queue of blobs no longer referenced.
CREATE TABLE buckets (
    name    TEXT PRIMARY KEY,
    created INTEGER NOT NULL
);
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    bucket        TEXT NOT NULL,
    key           TEXT NOT NULL,
    state         TEXT NOT NULL,
    created       INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    expires       INTEGER NOT NULL,
    meta          TEXT NOT NULL,
    checksum      TEXT,
    commit_record TEXT
);
CREATE INDEX sessions_by_key ON sessions (bucket, key, created, id);
CREATE INDEX sessions_by_state ON sessions (state, expires);
CREATE TABLE parts (
    session   TEXT NOT NULL,
    number    INTEGER NOT NULL,
    blob      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    md5       BLOB NOT NULL,
    crc32     INTEGER NOT NULL,
    crc32c    INTEGER NOT NULL,
    crc64nvme INTEGER NOT NULL,
    crc64xz   INTEGER NOT NULL,
    sha1      BLOB,
    sha256    BLOB,
    modified  INTEGER NOT NULL,
    PRIMARY KEY (session, number)
) WITHOUT ROWID;
CREATE INDEX parts_by_blob ON parts (blob);
CREATE TABLE objects (
    bucket   TEXT NOT NULL,
    key      TEXT NOT NULL,
    id       TEXT NOT NULL UNIQUE,
    size     INTEGER NOT NULL,
    etag     TEXT NOT NULL,
    modified INTEGER NOT NULL,
    meta     TEXT NOT NULL,
    checksum TEXT,
    crc      TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE manifests (
    object TEXT NOT NULL,
    idx    INTEGER NOT NULL,
    blob   TEXT NOT NULL,
    offset INTEGER NOT NULL,
    size   INTEGER NOT NULL,
    PRIMARY KEY (object, idx)
) WITHOUT ROWID;
CREATE INDEX manifests_by_blob ON manifests (blob);
CREATE TABLE garbage (
    blob   TEXT PRIMARY KEY,
    queued INTEGER NOT NULL
) WITHOUT ROWID;
