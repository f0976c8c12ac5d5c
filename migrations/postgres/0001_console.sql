-- Console tables (PostgreSQL). Same tables, columns and version as migrations/sqlite/0001, in
-- native types: BYTEA for key material, identity columns for serial ids. Ids stay TEXT (UUID
-- strings) and timestamps BIGINT Unix milliseconds, so both backends share one store API.

CREATE TABLE admins (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('super_admin', 'developer', 'admin')),
    -- argon2id PHC string; NULL for the built-in local admin, who cannot log in over HTTP.
    password_hash TEXT,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    digest       TEXT PRIMARY KEY,
    admin_id     TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

CREATE TABLE client_apps (
    id                   TEXT PRIMARY KEY,
    app_type             TEXT NOT NULL CHECK (app_type IN ('provisioning')),
    name                 TEXT NOT NULL,
    name_key             TEXT NOT NULL UNIQUE,
    description          TEXT NOT NULL,
    client_id            TEXT NOT NULL UNIQUE,
    client_secret_digest TEXT NOT NULL,
    scim_enabled         BOOLEAN NOT NULL DEFAULT FALSE,
    service_account      TEXT,
    created_by           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

CREATE TABLE app_members (
    app_id   TEXT NOT NULL REFERENCES client_apps (id) ON DELETE CASCADE,
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, admin_id)
);
CREATE INDEX app_members_by_admin ON app_members (admin_id);

CREATE TABLE dedicated_tokens (
    id           TEXT PRIMARY KEY, -- the JWT's jti
    app_id       TEXT NOT NULL REFERENCES client_apps (id) ON DELETE CASCADE,
    digest       TEXT NOT NULL,    -- SHA-256 of the token; the token itself is never stored
    state        TEXT NOT NULL CHECK (state IN ('active', 'revoked', 'expired')),
    issued_at    BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
-- At most one active token per app, enforced by the database even under concurrent issues
-- from several instances.
CREATE UNIQUE INDEX dedicated_tokens_one_active ON dedicated_tokens (app_id) WHERE state = 'active';
CREATE INDEX dedicated_tokens_by_app ON dedicated_tokens (app_id, issued_at);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_der BYTEA NOT NULL, -- PKCS#8 Ed25519
    public_raw  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE audit_events (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    app_id   TEXT,
    app_name TEXT,
    outcome  TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    detail   TEXT
);
CREATE INDEX audit_events_by_app ON audit_events (app_id, id);
