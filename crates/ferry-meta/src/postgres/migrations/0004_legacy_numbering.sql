-- Part numbers are kept as each protocol sends them. Before, US3 uploads stored part n as
-- n + 1; the sessions open at the upgrade are marked so they finish with that numbering.
ALTER TABLE sessions ADD COLUMN legacy_numbering BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET legacy_numbering = 1;
