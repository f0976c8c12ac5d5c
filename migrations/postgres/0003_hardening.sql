-- Hardening (issue 7), PostgreSQL: mirrors migrations/sqlite/0003_hardening.sql.

-- Audit rows carry the caller's address; refused anonymous attempts collapse into one row per
-- collapse_key (actor, address, window) with a count, so they cannot fill the disk.
ALTER TABLE audit_events ADD COLUMN address TEXT;
ALTER TABLE audit_events ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN last_at BIGINT;
ALTER TABLE audit_events ADD COLUMN collapse_key TEXT;
-- NULLs are distinct, so ordinary rows never clash.
CREATE UNIQUE INDEX audit_events_collapse ON audit_events (collapse_key);

-- Sign-in attempts, reserved before the password is checked (outcome 'pending'), so the
-- lockout holds under any concurrency, across restarts and across instances.
CREATE TABLE login_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username_key TEXT NOT NULL,
    address      TEXT NOT NULL,
    at           BIGINT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('pending', 'failure', 'success')),
    -- A later success or `admin unlock` clears a username's failures (not the address's).
    cleared      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX login_attempts_by_user ON login_attempts (username_key, at);
CREATE INDEX login_attempts_by_address ON login_attempts (address, at);
CREATE INDEX login_attempts_by_at ON login_attempts (at);

-- UTS #39 confusable skeleton of the NFKC, lower-cased name; filled in by the server for rows
-- that predate this migration.
ALTER TABLE client_apps ADD COLUMN name_skeleton TEXT;
CREATE UNIQUE INDEX client_apps_name_skeleton ON client_apps (name_skeleton);

CREATE INDEX sessions_by_admin ON sessions (admin_id);
