-- 0003_hot_updates.sql: room on each page for the rows every batch rewrites, so PostgreSQL
-- can update them in place (HOT) without touching their indexes.
ALTER TABLE meter_state SET (fillfactor = 50);
ALTER TABLE accounts SET (fillfactor = 70);
ALTER TABLE meter_daily SET (fillfactor = 70);
