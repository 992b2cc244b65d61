-- A nullable `damaged` column on objects holds why a scrub found the object's data damaged. A
-- new object row (an overwrite) starts without it. The partial index keeps counting flagged
-- objects, which every read consults while any exist, cheap.
ALTER TABLE objects ADD COLUMN damaged TEXT;
CREATE INDEX objects_damaged ON objects (bucket, key) WHERE damaged IS NOT NULL;
