-- Sessions get a real target in columns of its own (see the SQLite store's
-- 0003_session_targets.sql), and every operation on a session judges its lifetime and idle time
-- against the caller's clock, inside its own transaction, whatever the sweeper has done yet.
ALTER TABLE sessions
    ADD COLUMN target_kind TEXT NOT NULL DEFAULT 'object',
    ADD COLUMN target_project TEXT,
    ADD COLUMN target_table TEXT,
    ADD COLUMN target_partition TEXT;
UPDATE sessions SET
    target_kind = 'table',
    target_project = (meta::jsonb #>> '{user,0,1}')::jsonb ->> 'project',
    target_table = (meta::jsonb #>> '{user,0,1}')::jsonb ->> 'table',
    target_partition = meta::jsonb #>> '{user,1,1}',
    bucket = '',
    key = ''
WHERE meta::jsonb #>> '{user,0,0}' = 'ferry-table' AND meta::jsonb #>> '{user,1,0}' = 'ferry-partition';

-- Whether a live session's time is up: lifetime over, or no activity since p_idle_before (its
-- own or its newest part's; part writes do not touch the session row).
CREATE FUNCTION ferry_session_stale(p_id TEXT, p_expires BIGINT, p_last BIGINT, p_now BIGINT, p_idle_before BIGINT)
RETURNS BOOLEAN LANGUAGE sql STABLE AS $$
    SELECT p_expires <= p_now OR (p_last <= p_idle_before AND NOT EXISTS (
        SELECT 1 FROM parts WHERE session = p_id AND modified > p_idle_before))
$$;

-- Expire one session if it is live and stale, under its row lock. Returns whether it did.
CREATE FUNCTION ferry_expire_one(p_id TEXT, p_now BIGINT, p_idle_before BIGINT)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    st TEXT;
    ex BIGINT;
    la BIGINT;
BEGIN
    SELECT state, expires, last_activity INTO st, ex, la FROM sessions WHERE id = p_id FOR UPDATE;
    IF st IS NULL OR st NOT IN ('NORMAL', 'UNKNOWN') OR NOT ferry_session_stale(p_id, ex, la, p_now, p_idle_before) THEN
        RETURN FALSE;
    END IF;
    UPDATE sessions SET state = 'EXPIRED' WHERE id = p_id;
    INSERT INTO garbage (blob, queued) SELECT blob, p_now FROM parts WHERE session = p_id ON CONFLICT DO NOTHING;
    DELETE FROM parts WHERE session = p_id;
    RETURN TRUE;
END $$;

-- A transition out of a live state first expires a stale session (and then fails).
DROP FUNCTION ferry_transition(TEXT, TEXT[], TEXT, BIGINT);
CREATE FUNCTION ferry_transition(p_id TEXT, p_from TEXT[], p_to TEXT, p_now BIGINT, p_idle_before BIGINT)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    IF p_from && ARRAY['NORMAL', 'UNKNOWN']::TEXT[] AND ferry_expire_one(p_id, p_now, p_idle_before) THEN
        RETURN FALSE;
    END IF;
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

-- As before, and 'stale' for a session whose time is up: the caller expires it (under the row
-- lock, which a part write holding FOR SHARE must not take itself) and refuses the part.
DROP FUNCTION ferry_put_part(TEXT, BIGINT, TEXT, BIGINT, BYTEA, BIGINT, BIGINT, BIGINT, BIGINT, BYTEA, BYTEA, BIGINT);
CREATE FUNCTION ferry_put_part(
    p_session TEXT, p_number BIGINT, p_blob TEXT, p_size BIGINT, p_md5 BYTEA, p_crc32 BIGINT,
    p_crc32c BIGINT, p_crc64nvme BIGINT, p_crc64xz BIGINT, p_sha1 BYTEA, p_sha256 BYTEA, p_modified BIGINT,
    p_now BIGINT, p_idle_before BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    st TEXT;
    ex BIGINT;
    la BIGINT;
    old TEXT;
BEGIN
    SELECT state, expires, last_activity INTO st, ex, la FROM sessions WHERE id = p_session FOR SHARE;
    IF st IS NULL OR st NOT IN ('NORMAL', 'CLOSING') THEN
        RETURN 'missing';
    ELSIF st = 'CLOSING' THEN
        RETURN 'busy';
    ELSIF ferry_session_stale(p_session, ex, la, p_now, p_idle_before) THEN
        RETURN 'stale';
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
