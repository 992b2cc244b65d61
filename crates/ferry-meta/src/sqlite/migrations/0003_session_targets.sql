-- Sessions get a real target: an object (bucket, key) or a table partition, in columns of
-- its own. Table uploads used to be sessions on `<table bucket>/<project>/<table>/<id>/
-- .../_upload`, recognisable by the table record in their metadata; they become table
-- targets and leave the bucket and key empty, so no object call can reach them.
ALTER TABLE sessions ADD COLUMN target_kind TEXT NOT NULL DEFAULT 'object';
ALTER TABLE sessions ADD COLUMN target_project TEXT;
ALTER TABLE sessions ADD COLUMN target_table TEXT;
ALTER TABLE sessions ADD COLUMN target_partition TEXT;
UPDATE sessions SET
    target_kind = 'table',
    target_project = json_extract(json_extract(meta, '$.user[0][1]'), '$.project'),
    target_table = json_extract(json_extract(meta, '$.user[0][1]'), '$.table'),
    target_partition = json_extract(meta, '$.user[1][1]'),
    bucket = '',
    key = ''
WHERE json_extract(meta, '$.user[0][0]') = 'ferry-table'
  AND json_extract(meta, '$.user[1][0]') = 'ferry-partition'
  AND json_valid(json_extract(meta, '$.user[0][1]'));
