-- Placeholder, for this branch only: the migration runner requires contiguous numbers and
-- 0006 is being written on another branch. Delete this file when that 0006 is merged (a
-- database migrated with this placeholder must be re-created: its checksum will differ).
SELECT 1;
