-- Bucket lifecycle rules: one row per bucket with rules, the rules as JSON (the engine's
-- `LifecycleConfiguration`). Deleting a bucket deletes its rules in the same transaction.
CREATE TABLE IF NOT EXISTS bucket_lifecycle (
    bucket  TEXT PRIMARY KEY,
    rules   TEXT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE OR REPLACE FUNCTION ferry_bucket_lifecycle_follows_bucket() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bucket_lifecycle WHERE bucket = OLD.name;
    RETURN OLD;
END $$;
CREATE TRIGGER bucket_lifecycle_follows_bucket AFTER DELETE ON buckets
    FOR EACH ROW EXECUTE FUNCTION ferry_bucket_lifecycle_follows_bucket();
-- Objects by age, for expiration by date across a bucket.
CREATE INDEX IF NOT EXISTS objects_by_modified ON objects (bucket, modified);
