-- Placeholder on this branch only: the import engine's branch brings the real 0009_import.sql,
-- which replaces this file when both are merged (migrations are numbered without gaps).
SELECT 1;
