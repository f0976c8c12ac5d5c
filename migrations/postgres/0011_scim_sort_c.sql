-- sortBy=userName / displayName order by the lower-cased key in code-point order
-- (`COLLATE "C"`, the same order SQLite's BINARY gives). The unique keys' indexes carry the
-- database's default collation, which serves that order only on a C-collation database; these
-- serve it on any (with created_at, id: the list's tie-breakers, for cursor pages too).
CREATE INDEX scim_users_by_user_name_c ON scim_users (user_name_key COLLATE "C", created_at, id);
CREATE INDEX scim_groups_by_display_name_c ON scim_groups (display_name_key COLLATE "C", created_at, id);
