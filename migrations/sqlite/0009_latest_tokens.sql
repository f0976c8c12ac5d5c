-- The app list shows each app's newest token (by issued_at, then id). With id in the index,
-- that is one index probe per app, read backwards, however many tokens were ever reissued:
-- no sort and no scan of the table. It serves every other per-app token lookup too, so it
-- replaces the (app_id, issued_at) index.
CREATE INDEX dedicated_tokens_latest ON dedicated_tokens (app_id, issued_at, id);
DROP INDEX dedicated_tokens_by_app;
