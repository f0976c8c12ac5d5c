-- PostgreSQL only (C-collation indexes for sortBy=userName/displayName): SQLite's unique
-- keys already order in code-point order (BINARY). Kept so both backends hold the same versions.
SELECT 1;
