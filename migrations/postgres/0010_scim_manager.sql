-- A user's reports (the users whose Enterprise manager.value names it) are found by this
-- expression when the user's shown name or externalId changes, to give them a new version:
-- their representation shows the manager's name. The query uses the identical expression.
CREATE INDEX scim_users_by_manager ON scim_users (
    (resource #>> '{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,manager,value}')
);
