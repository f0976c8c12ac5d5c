-- SCIM directory. Each resource's SCIM JSON (without id and meta) lives in `resource`; the
-- columns beside it are what must be unique, indexed or sorted without parsing JSON.

CREATE TABLE scim_users (
    id            TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL UNIQUE, -- lower-cased: userName is caseExact=false
    external_id   TEXT,
    active        BOOLEAN NOT NULL,
    resource      TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX scim_users_by_external_id ON scim_users (external_id);
CREATE INDEX scim_users_by_created ON scim_users (created_at, id);

CREATE TABLE scim_groups (
    id               TEXT PRIMARY KEY,
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL UNIQUE, -- lower-cased: unique regardless of case
    external_id      TEXT,
    resource         TEXT NOT NULL,
    version          BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX scim_groups_by_external_id ON scim_groups (external_id);
CREATE INDEX scim_groups_by_created ON scim_groups (created_at, id);

-- Direct memberships, mirrored from each group's `members` so a user's `groups` and a deleted
-- group's parents are found without scanning JSON. A member is a user or a group id.
CREATE TABLE scim_group_members (
    group_id  TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX scim_group_members_by_member ON scim_group_members (member_id);
