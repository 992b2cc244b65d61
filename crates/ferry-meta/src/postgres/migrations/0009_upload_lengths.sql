-- The declared length of an offset-based upload (tus, IETF resumable uploads), kept with its
-- session; set once (the engine refuses any other length afterwards). A table like SQLite's,
-- so both stores read it the same way; created only if missing, like every migration after 0004.
CREATE TABLE IF NOT EXISTS upload_lengths (
    session TEXT PRIMARY KEY REFERENCES sessions (id),
    length  BIGINT NOT NULL
);

-- ferry_put_part, but never replacing: 'taken' when the session already holds part p_number
-- (another append, on any node, stored it first). The session row is locked FOR UPDATE, so
-- two puts of the same number are serialised and the second sees the first's row.
CREATE OR REPLACE FUNCTION ferry_put_part_once(
    p_session TEXT, p_number BIGINT, p_blob TEXT, p_size BIGINT, p_md5 BYTEA, p_crc32 BIGINT,
    p_crc32c BIGINT, p_crc64nvme BIGINT, p_crc64xz BIGINT, p_sha1 BYTEA, p_sha256 BYTEA, p_modified BIGINT,
    p_now BIGINT, p_idle_before BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM sessions WHERE id = p_session FOR UPDATE;
    IF EXISTS (SELECT 1 FROM parts WHERE session = p_session AND number = p_number) THEN
        RETURN 'taken';
    END IF;
    RETURN ferry_put_part(p_session, p_number, p_blob, p_size, p_md5, p_crc32, p_crc32c, p_crc64nvme,
                          p_crc64xz, p_sha1, p_sha256, p_modified, p_now, p_idle_before);
END $$;
