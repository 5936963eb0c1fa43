-- Takedown Monitor schema, version 6: who holds a lease.
--
-- A worker process registers a row here and holds the session advisory lock
-- (WORKER_LOCK_SPACE, id) for its whole life (monitor/db/health.py, Presence).
-- PostgreSQL drops the lock with the worker's connection: when the process dies
-- (SIGKILL, OOM, power), its lock is free at once. Every claim records the
-- claiming worker in leased_by; a lease whose worker's lock is free is given
-- back by the next worker's cycle instead of running out after LEASE.
-- leased_by means something only while lease_until is set; a NULL leased_by
-- (claims of older versions) runs out by time, as before.

CREATE TABLE workers (
    -- integer, not bigint: it is the second key of a two-key advisory lock
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE targets ADD COLUMN leased_by integer;
ALTER TABLE posts ADD COLUMN leased_by integer;
