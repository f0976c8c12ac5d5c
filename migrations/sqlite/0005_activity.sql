-- Provisioning activity: every SCIM write (and failed read) an app's Dedicated Token made.
-- Pruned in the background by age and by rows per app (server::activity).
CREATE TABLE scim_activity (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id        TEXT NOT NULL,
    at            BIGINT NOT NULL,
    operation     TEXT NOT NULL,
    resource_type TEXT,
    resource_id   TEXT,
    name          TEXT,
    status        INTEGER NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    scim_type     TEXT,
    detail        TEXT
);
CREATE INDEX scim_activity_by_app ON scim_activity (app_id, id);
CREATE INDEX scim_activity_by_time ON scim_activity (at);
