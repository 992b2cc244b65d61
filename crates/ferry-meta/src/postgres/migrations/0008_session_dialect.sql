-- The protocol that opened each upload session (s3, oss, us3, tunnel, console), shown in the
-- web console's sessions view. NULL for sessions opened before it was recorded.
ALTER TABLE sessions ADD COLUMN dialect TEXT;
