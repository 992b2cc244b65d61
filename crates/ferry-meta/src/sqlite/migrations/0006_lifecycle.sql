-- Bucket lifecycle rules: one row per bucket with rules, the rules as JSON (the engine's
-- `LifecycleConfiguration`). Deleting a bucket deletes its rules in the same transaction.
CREATE TABLE IF NOT EXISTS bucket_lifecycle (
    bucket  TEXT PRIMARY KEY,
    rules   TEXT NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS bucket_lifecycle_follows_bucket AFTER DELETE ON buckets
BEGIN
    DELETE FROM bucket_lifecycle WHERE bucket = OLD.name;
END;
-- Objects by age, for expiration by date across a bucket.
CREATE INDEX IF NOT EXISTS objects_by_modified ON objects (bucket, modified);
