-- Takedown Monitor schema, version 2: alert deliveries (the alerts/ package).
--
-- deliveries is a durable outbox: one row per (event x channel), written in
-- the event's own transaction, plus one row per mass-deletion (burst) message and
-- per digest. Rows an aggregate took over are 'folded' and point at it (parent_id).
-- States: pending -> sending -> sent | failed (retried) -> ... -> dead;
--         folded (part of a burst or digest), suppressed (flap cool-down).
-- While a row is 'sending', next_attempt_at is the end of the dispatcher's lease:
-- a dispatcher that dies mid-send leaves a row that falls due again by itself.
-- Hot paths and their indexes:
--   claiming due work       deliveries_due (partial: only rows still to send)
--   members of a burst or digest   deliveries_parent
--   an open burst message   deliveries_burst
--   flap look-back          alert_marks_post
--   burst look-back         alert_marks_gone (partial: alerted disappearances)

CREATE TABLE alert_bursts (
    id          bigserial PRIMARY KEY,
    scope       text NOT NULL CHECK (scope IN ('target', 'group')),
    scope_key   text NOT NULL,
    group_name  text NOT NULL,
    target_id   bigint REFERENCES targets (id) ON DELETE CASCADE,
    started_at  timestamptz NOT NULL,
    last_at     timestamptz NOT NULL
);
CREATE INDEX alert_bursts_scope ON alert_bursts (scope, scope_key, last_at);

-- What the rules decided for each event, once: the memory of flaps and bursts.
CREATE TABLE alert_marks (
    event_id    bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    post_id     bigint NOT NULL,
    target_id   bigint NOT NULL,
    group_name  text NOT NULL,
    kind        text NOT NULL,
    cause       text,
    detected_at timestamptz NOT NULL,
    -- alert: sent on its own; burst: part of a mass deletion; flap: suppressed;
    -- off: no route or toggle wanted it
    verdict     text NOT NULL CHECK (verdict IN ('alert', 'burst', 'flap', 'off')),
    burst_id    bigint REFERENCES alert_bursts (id) ON DELETE SET NULL
);
CREATE INDEX alert_marks_post ON alert_marks (post_id, detected_at);
CREATE INDEX alert_marks_gone ON alert_marks (group_name, detected_at)
    WHERE kind = 'disappeared' AND verdict IN ('alert', 'burst');

CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    event_id        bigint REFERENCES events (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('event', 'burst', 'digest')),
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN
                        ('pending', 'sending', 'sent', 'failed', 'dead', 'folded',
                         'suppressed')),
    tries           integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_at      timestamptz,
    claimed_by      text,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    parent_id       bigint REFERENCES deliveries (id) ON DELETE SET NULL,
    burst_id        bigint REFERENCES alert_bursts (id) ON DELETE SET NULL,
    -- bursts and digests: their identity (digest:CHANNEL:PERIOD, burst:ID:CHANNEL:N)
    dedupe_key      text UNIQUE,
    -- bursts: scope and members alerted before the burst; digests: the period
    payload         jsonb NOT NULL DEFAULT '{}',
    UNIQUE (event_id, channel),
    CHECK ((kind = 'event') = (event_id IS NOT NULL))
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id)
    WHERE state IN ('pending', 'failed', 'sending');
CREATE INDEX deliveries_parent ON deliveries (parent_id)
    WHERE parent_id IS NOT NULL;
CREATE INDEX deliveries_burst ON deliveries (burst_id, channel)
    WHERE burst_id IS NOT NULL;
CREATE INDEX deliveries_trouble ON deliveries (state, id)
    WHERE state IN ('failed', 'dead');

-- Every attempt to send, with its result: the audit trail of a delivery.
CREATE TABLE delivery_attempts (
    id          bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    try         integer NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    result      text NOT NULL CHECK (result IN ('sent', 'failed', 'dead', 'interrupted')),
    error       text,
    dispatcher  text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
