-- Takedown Monitor schema, version 16: evidence bundles and their RFC 3161 stamps.
--
-- evidence_manifests holds each event's manifest, built once and frozen: its bytes
-- are what the timestamp authorities sign, so an UPDATE is refused by trigger.
-- evidence_stamps holds one row per event and authority: the token once stamped
-- (status ok), else pending (never asked) or failed (asked, retried at next_try
-- with back-off; last_error says why). A failing authority never blocks recording:
-- stamping is a chore of its own (monitor/evidence/stamping.py).

CREATE TABLE evidence_manifests (
    event_id   bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    built_at   timestamptz NOT NULL,
    sha256     text NOT NULL,
    manifest   bytea NOT NULL
);

CREATE FUNCTION evidence_manifest_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'evidence manifests are frozen: UPDATE of event %''s manifest refused',
        OLD.event_id USING HINT = 'Its bytes are timestamped; build a new event instead.';
END $$;
CREATE TRIGGER evidence_manifests_frozen BEFORE UPDATE ON evidence_manifests
    FOR EACH ROW EXECUTE FUNCTION evidence_manifest_frozen();

CREATE TABLE evidence_stamps (
    event_id   bigint NOT NULL REFERENCES evidence_manifests (event_id) ON DELETE CASCADE,
    authority  text NOT NULL,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'failed')),
    token      bytea,
    attempts   integer NOT NULL DEFAULT 0,
    next_try   timestamptz,
    last_error text,
    stamped_at timestamptz,
    PRIMARY KEY (event_id, authority),
    CHECK ((status = 'ok') = (token IS NOT NULL))
);
CREATE INDEX evidence_stamps_due ON evidence_stamps (next_try) WHERE status <> 'ok';
