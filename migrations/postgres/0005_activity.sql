-- Provisioning activity (PostgreSQL): mirrors migrations/sqlite/0005_activity.sql.
CREATE TABLE scim_activity (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id        TEXT NOT NULL,
    at            BIGINT NOT NULL,
    operation     TEXT NOT NULL,
    resource_type TEXT,
    resource_id   TEXT,
    name          TEXT,
    status        BIGINT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    scim_type     TEXT,
    detail        TEXT
);
CREATE INDEX scim_activity_by_app ON scim_activity (app_id, id);
CREATE INDEX scim_activity_by_time ON scim_activity (at);
