-- The first schema (the SQLite store's first two migrations, with leases), and the server-side
-- functions that keep a part write to one round trip.
CREATE TABLE buckets (
    name    TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL
);
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    bucket        TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    state         TEXT NOT NULL,
    created       BIGINT NOT NULL,
    last_activity BIGINT NOT NULL,
    expires       BIGINT NOT NULL,
    meta          TEXT NOT NULL,
    checksum      TEXT,
    commit_record TEXT
);
CREATE INDEX sessions_by_key ON sessions (bucket, key, created, id);
CREATE INDEX sessions_by_state ON sessions (state, expires);
CREATE TABLE parts (
    session   TEXT NOT NULL,
    number    BIGINT NOT NULL,
    blob      TEXT NOT NULL,
    size      BIGINT NOT NULL,
    md5       BYTEA NOT NULL,
    crc32     BIGINT NOT NULL,
    crc32c    BIGINT NOT NULL,
    crc64nvme BIGINT NOT NULL,
    crc64xz   BIGINT NOT NULL,
    sha1      BYTEA,
    sha256    BYTEA,
    modified  BIGINT NOT NULL,
    PRIMARY KEY (session, number)
);
CREATE INDEX parts_by_blob ON parts (blob);
CREATE TABLE objects (
    bucket   TEXT COLLATE "C" NOT NULL,
    key      TEXT COLLATE "C" NOT NULL,
    id       TEXT NOT NULL UNIQUE,
    size     BIGINT NOT NULL,
    etag     TEXT NOT NULL,
    modified BIGINT NOT NULL,
    meta     TEXT NOT NULL,
    checksum TEXT,
    crc      TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE manifests (
    object TEXT NOT NULL,
    idx    BIGINT NOT NULL,
    blob   TEXT NOT NULL,
    "offset" BIGINT NOT NULL,
    size   BIGINT NOT NULL,
    PRIMARY KEY (object, idx)
);
CREATE INDEX manifests_by_blob ON manifests (blob);
CREATE TABLE garbage (
    blob   TEXT PRIMARY KEY,
    queued BIGINT NOT NULL
);
CREATE INDEX garbage_by_age ON garbage (queued);
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);

-- One round trip per part. Each statement of a PL/pgSQL function takes a fresh snapshot, so
-- the loop sees a row inserted by a concurrent writer of the same part number and replaces it.
-- Returns 'ok', 'busy' (a commit is running) or 'missing' (no such live session).
CREATE FUNCTION ferry_put_part(
    p_session TEXT, p_number BIGINT, p_blob TEXT, p_size BIGINT, p_md5 BYTEA, p_crc32 BIGINT,
    p_crc32c BIGINT, p_crc64nvme BIGINT, p_crc64xz BIGINT, p_sha1 BYTEA, p_sha256 BYTEA, p_modified BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    st TEXT;
    old TEXT;
BEGIN
    SELECT state INTO st FROM sessions WHERE id = p_session FOR SHARE;
    IF st IS NULL OR st NOT IN ('NORMAL', 'CLOSING') THEN
        RETURN 'missing';
    ELSIF st = 'CLOSING' THEN
        RETURN 'busy';
    END IF;
    LOOP
        SELECT blob INTO old FROM parts WHERE session = p_session AND number = p_number FOR UPDATE;
        IF FOUND THEN
            UPDATE parts SET blob = p_blob, size = p_size, md5 = p_md5, crc32 = p_crc32, crc32c = p_crc32c,
                crc64nvme = p_crc64nvme, crc64xz = p_crc64xz, sha1 = p_sha1, sha256 = p_sha256,
                modified = p_modified
            WHERE session = p_session AND number = p_number;
            INSERT INTO garbage (blob, queued) VALUES (old, p_modified) ON CONFLICT DO NOTHING;
            RETURN 'ok';
        END IF;
        INSERT INTO parts (session, number, blob, size, md5, crc32, crc32c, crc64nvme, crc64xz, sha1, sha256, modified)
        VALUES (p_session, p_number, p_blob, p_size, p_md5, p_crc32, p_crc32c, p_crc64nvme, p_crc64xz, p_sha1,
                p_sha256, p_modified)
        ON CONFLICT (session, number) DO NOTHING;
        IF FOUND THEN
            RETURN 'ok';
        END IF;
    END LOOP;
END $$;

-- Move a session between states (compare-and-set). Leaving for ABORTED or EXPIRED discards its
-- parts; that happens in statements after the UPDATE, whose snapshots include any part write
-- the UPDATE waited for.
CREATE FUNCTION ferry_transition(p_id TEXT, p_from TEXT[], p_to TEXT, p_now BIGINT)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions SET state = p_to, last_activity = p_now WHERE id = p_id AND state = ANY (p_from);
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    IF p_to IN ('ABORTED', 'EXPIRED') THEN
        INSERT INTO garbage (blob, queued) SELECT blob, p_now FROM parts WHERE session = p_id
            ON CONFLICT DO NOTHING;
        DELETE FROM parts WHERE session = p_id;
    END IF;
    RETURN TRUE;
END $$;

-- Expire stale sessions and reopen stalled commits. A session's last activity is the later of
-- its own and its newest part's, so part writes need not update (and lock) the session row.
-- Sessions another node is working on (row locked) are skipped, not waited for.
CREATE FUNCTION ferry_expire(p_now BIGINT, p_idle_before BIGINT, p_closing_before BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    stale TEXT[];
BEGIN
    SELECT array_agg(id) INTO stale FROM (
        SELECT id FROM sessions s
        WHERE state IN ('NORMAL', 'UNKNOWN')
          AND (expires <= p_now OR (last_activity <= p_idle_before AND NOT EXISTS (
                SELECT 1 FROM parts p WHERE p.session = s.id AND p.modified > p_idle_before)))
        FOR UPDATE SKIP LOCKED
    ) candidates;
    IF stale IS NOT NULL THEN
        UPDATE sessions SET state = 'EXPIRED' WHERE id = ANY (stale);
        INSERT INTO garbage (blob, queued) SELECT blob, p_now FROM parts WHERE session = ANY (stale)
            ON CONFLICT DO NOTHING;
        DELETE FROM parts WHERE session = ANY (stale);
    END IF;
    UPDATE sessions SET state = 'NORMAL' WHERE state = 'CLOSING' AND last_activity <= p_closing_before;
    RETURN coalesce(cardinality(stale), 0);
END $$;
