-- Takedown Monitor schema, version 10: API tokens, the audit log, the review queue.
--
-- api_tokens keeps only a SHA-256 of each secret (monitor/db/access.py says why
-- that is enough) and a short visible prefix to find the row and tell tokens apart.
-- A revoked token keeps its row (the audit log points at it); a name is unique
-- among the tokens not revoked.
-- review_groups: which watchlist groups hold their events for review (written at
-- watchlist sync). An event of such a group is published only once approved.
-- review_decisions: every decision and note, in order (the history);
-- event_reviews: the current decision per event (a later one replaces it).
-- deliveries gain the state 'held': a public channel's delivery of an event still
-- under review; the approval releases it (pending), a rejection suppresses it.
-- Hot paths and their indexes:
--   authenticating a request   api_tokens_prefix (unique)
--   the pending queue          events_group_detected (group_name, detected_at, id)
--   published_clause           event_reviews primary key, review_groups primary key
--   releasing held deliveries  deliveries_held (partial)

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role         text NOT NULL CHECK (role IN ('viewer', 'reviewer', 'admin')),
    prefix       text NOT NULL UNIQUE,
    secret_hash  bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    token_id  bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    actor     text NOT NULL,
    role      text NOT NULL,
    action    text NOT NULL,
    subject   text NOT NULL,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- Secrets the database generates once (the pseudonym key when PSEUDONYM_SECRET is unset).
CREATE TABLE access_secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE review_groups (
    name       text PRIMARY KEY,
    review     boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE review_decisions (
    id        bigserial PRIMARY KEY,
    event_id  bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    decision  text NOT NULL CHECK (decision IN ('approved', 'rejected', 'note')),
    text      text,
    at        timestamptz NOT NULL,
    token_id  bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    actor     text NOT NULL,
    CHECK (decision = 'approved' OR length(btrim(text)) > 0)
);
CREATE INDEX review_decisions_event ON review_decisions (event_id, id);

CREATE TABLE event_reviews (
    event_id    bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    state       text NOT NULL CHECK (state IN ('approved', 'rejected')),
    decision_id bigint NOT NULL REFERENCES review_decisions (id),
    decided_at  timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS events_group_detected ON events (group_name, detected_at, id);

ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state IN
    ('pending', 'sending', 'sent', 'failed', 'dead', 'folded', 'suppressed', 'held'));
CREATE INDEX deliveries_held ON deliveries (event_id) WHERE state = 'held';
