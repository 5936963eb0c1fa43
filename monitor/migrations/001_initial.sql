-- Takedown Monitor schema, version 1.
-- Hot paths and their indexes:
--   claiming due work        targets_due, posts_due (partial, only rows that have a due time)
--   a target's posts         posts (target_id, post_key) unique
--   history by id or URL     posts_key, posts_url
--   a post's timeline        observations_post (post_id, id)
--   event queries            events_detected, events_target, events_post

CREATE TABLE targets (
    id              bigserial PRIMARY KEY,
    key             text NOT NULL UNIQUE,
    group_name      text NOT NULL,
    platform        text NOT NULL,
    kind            text NOT NULL,
    value           text NOT NULL,
    base_url        text,
    interval_s      double precision NOT NULL,
    tags            text[] NOT NULL DEFAULT '{}',
    active          boolean NOT NULL DEFAULT true,
    next_due        timestamptz,
    lease_until     timestamptz,
    last_checked_at timestamptz,
    last_ok_at      timestamptz,
    last_outcome    text,
    error_streak    integer NOT NULL DEFAULT 0,
    last_error      text,
    account_state   text,
    last_obs_id     bigint,
    last_obs_sig    text,
    known           jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX targets_due ON targets (next_due) WHERE active AND next_due IS NOT NULL;

CREATE TABLE posts (
    id                bigserial PRIMARY KEY,
    target_id         bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    platform          text NOT NULL,
    post_key          text NOT NULL,
    url               text,
    probe_url         text,
    author            text,
    published_at      timestamptz,
    first_seen        timestamptz NOT NULL,
    last_listed_at    timestamptz,
    -- unseen | visible | suspect | gone | hidden
    state             text NOT NULL,
    state_since       timestamptz NOT NULL,
    -- pending confirmation: why, since when, and the probes so far
    suspicion         jsonb,
    -- the cause of the last confirmed disappearance or hiding
    gone_cause        text,
    transitions       integer NOT NULL DEFAULT 0,
    current_version_id bigint,
    current_hash      text,
    recent_hashes     text[] NOT NULL DEFAULT '{}',
    known             jsonb NOT NULL DEFAULT '{}',
    check_step        integer NOT NULL DEFAULT 0,
    next_check        timestamptz,
    lease_until       timestamptz,
    last_obs_id       bigint,
    last_obs_sig      text,
    last_visible_at   timestamptz,
    first_gone_at     timestamptz,
    UNIQUE (target_id, post_key)
) WITH (fillfactor = 80);
CREATE INDEX posts_due ON posts (next_check) WHERE next_check IS NOT NULL;
CREATE INDEX posts_key ON posts (post_key);
CREATE INDEX posts_url ON posts (url);

CREATE TABLE versions (
    id           bigserial PRIMARY KEY,
    post_id      bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    content_hash text NOT NULL,
    content      jsonb NOT NULL,
    raw_text     text,
    title        text,
    first_seen   timestamptz NOT NULL,
    UNIQUE (post_id, content_hash)
);

-- One row per run of identical observations: an unchanged re-check extends
-- last_at and repeats in place instead of adding a row.
CREATE TABLE observations (
    id          bigserial PRIMARY KEY,
    target_id   bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    post_id     bigint REFERENCES posts (id) ON DELETE CASCADE,
    mode        text NOT NULL,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    repeats     integer NOT NULL DEFAULT 1,
    outcome     text NOT NULL,
    http_status smallint,
    version_id  bigint,
    body_hash   text,
    message     text,
    url         text,
    vantage     text NOT NULL,
    signals     jsonb,
    counters    jsonb,
    detail      text
) WITH (fillfactor = 85);
CREATE INDEX observations_post ON observations (post_id, id) WHERE post_id IS NOT NULL;
CREATE INDEX observations_target ON observations (target_id, id) WHERE post_id IS NULL;

CREATE TABLE events (
    id                bigserial PRIMARY KEY,
    dedupe_key        text NOT NULL UNIQUE,
    kind              text NOT NULL,
    cause             text,
    cause_detail      text,
    candidates        text[] NOT NULL DEFAULT '{}',
    post_id           bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    target_id         bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    platform          text NOT NULL,
    group_name        text NOT NULL,
    post_key          text NOT NULL,
    detected_at       timestamptz NOT NULL,
    last_seen_visible timestamptz,
    first_seen_gone   timestamptz,
    published_at      timestamptz,
    version_id        bigint,
    edit              jsonb,
    evidence          jsonb NOT NULL
);
CREATE INDEX events_detected ON events (detected_at);
CREATE INDEX events_target ON events (target_id, detected_at);
CREATE INDEX events_post ON events (post_id);

-- Re-checks update posts and observation runs in place; vacuum them early so
-- dead row versions are reused instead of growing the tables.
ALTER TABLE posts SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500);
ALTER TABLE observations SET (autovacuum_vacuum_scale_factor = 0.02,
                              autovacuum_vacuum_threshold = 500);
ALTER TABLE targets SET (autovacuum_vacuum_scale_factor = 0.05);
