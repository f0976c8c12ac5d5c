-- SCIM directory (PostgreSQL). Each resource's SCIM JSON (without id and meta) lives in
-- `resource` as JSONB; the columns beside it are what must be unique, indexed or sorted.

-- A JSON value as an array: itself if it is one, else empty. Keeps jsonb_array_elements from
-- raising on a scalar, so a filter can never turn into a 500.
CREATE FUNCTION scim_array(doc jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN jsonb_typeof(doc) = 'array' THEN doc ELSE '[]'::jsonb END;

-- The ASCII-lower-cased `key` of every element of a multi-valued attribute: what
-- `emails eq "…"` (caseExact=false) compares, and what the GIN index on emails holds.
CREATE FUNCTION scim_lower_values(doc jsonb, key text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY(SELECT lower((e ->> key) COLLATE "C") FROM jsonb_array_elements(scim_array(doc)) AS e
                 WHERE e ->> key IS NOT NULL);

CREATE TABLE scim_users (
    id            TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL UNIQUE, -- lower-cased: userName is caseExact=false
    external_id   TEXT,
    active        BOOLEAN NOT NULL,
    resource      JSONB NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX scim_users_by_external_id ON scim_users (external_id);
CREATE INDEX scim_users_by_created ON scim_users (created_at, id);
CREATE INDEX scim_users_by_emails ON scim_users USING GIN (scim_lower_values(resource #> '{"emails"}'::text[], 'value'));

CREATE TABLE scim_groups (
    id               TEXT PRIMARY KEY,
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL UNIQUE, -- lower-cased: unique regardless of case
    external_id      TEXT,
    resource         JSONB NOT NULL,
    version          BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX scim_groups_by_external_id ON scim_groups (external_id);
CREATE INDEX scim_groups_by_created ON scim_groups (created_at, id);

-- Direct memberships, mirrored from each group's `members`. A member is a user or a group id.
CREATE TABLE scim_group_members (
    group_id  TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX scim_group_members_by_member ON scim_group_members (member_id);
