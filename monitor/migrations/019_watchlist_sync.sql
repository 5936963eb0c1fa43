-- Takedown Monitor schema, version 19: the watchlist sync costs nothing when nothing changed.
--
-- watchlist_sync holds, per group scope ('*': every group; else the sorted names as
-- JSON), the SHA-256 of the target set last synced (monitor/db/sync.py). A worker whose
-- watchlist hashes the same skips the sync; any sync that writes a row, and
-- forgetting a group, empties the table. The two partial indexes serve the idle
-- loop's per-platform look-ups (monitor/db/continuous.py next_due, the claims): in due
-- order within one platform, never a walk over every other platform's rows.

CREATE TABLE watchlist_sync (
    scope     text        PRIMARY KEY,
    hash      text        NOT NULL,
    targets   integer     NOT NULL,
    synced_at timestamptz NOT NULL
);

CREATE INDEX targets_platform_due ON targets (platform, next_due)
    WHERE active AND NOT single_post AND next_due IS NOT NULL;
CREATE INDEX posts_platform_due ON posts (platform, next_check) WHERE next_check IS NOT NULL;
