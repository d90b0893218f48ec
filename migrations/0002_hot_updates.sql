-- Steps and attempts are updated in place on every transition (status, output). Leaving room
-- in each page lets PostgreSQL make those heap-only (HOT) updates: no new index entries, less
-- WAL and less vacuum work. (Executions are updated twice per run; their status is indexed, so
-- those updates cannot be HOT anyway.)
ALTER TABLE steps SET (fillfactor = 70);
ALTER TABLE attempts SET (fillfactor = 70);
