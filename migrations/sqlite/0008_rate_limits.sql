-- Cluster-wide request rates (SCIM per app, OAuth per client ID and address): the GCRA state of
-- each limiter key, shared by every instance. `tat` is the theoretical arrival time in
-- microseconds since the Unix epoch; a row whose tat has passed is the same as no row, so old
-- rows are pruned freely.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
