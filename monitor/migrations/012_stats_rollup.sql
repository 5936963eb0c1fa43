-- Takedown Monitor schema, version 12: rollups that make the deletion rates of a
-- year cheap (monitor/db/stats.py), and a cache of computed survival answers.
--
-- stats_event_days  events per UTC day of detection x platform x group x cause: one
--                   column per kind the rates show, and all kinds in ``events``
-- stats_post_days   posts per UTC day of start x platform x group, and how many of
--                   them have a disappearance
-- stats_post_state  each post's row in stats_post_days (day, platform, group, removed),
--                   so a change re-counts exactly one post: recompute it, subtract
--                   what it was, add what it is (robust to any order of cascades)
-- stats_answers     survival answers computed in the background (monitor/stats/cache.py)
--
-- Each rollup row has a level, a bit mask of the columns it keeps (a column not kept
-- is ''): 1 platform, 2 group, 4 cause. Events are kept at levels 1, 2, 3, 5 and 7,
-- posts (no cause) at 1, 2 and 3, and a query reads the smallest level that holds
-- its breakdown and filters: a year by platform reads about 365 x 6 x 4 kinds rows
-- instead of every event of the year. The keys lead with platform and group so a
-- filter on them is an index range.
--
-- Triggers keep the rollups exact and fresh in the writer's transaction. Measured at
-- 1,000,000 events: a re-check's UPDATE of posts costs nothing more (the WHEN clause
-- skips it), a new post with an event about 1.6 ms more (0.8 -> 2.5 ms p50). Writers
-- of the same day and key wait for each other's commit on its rollup row; rows are
-- upserted in key order so they cannot deadlock within one statement. Bulk loads
-- that switch triggers off (session_replication_role = replica, bench/_analyst_data.py)
-- must call stats_rollup_rebuild() afterwards.

CREATE TABLE IF NOT EXISTS stats_event_days (
    level       smallint NOT NULL,
    platform    text NOT NULL,
    group_name  text NOT NULL,
    day         date NOT NULL,
    cause       text NOT NULL,  -- COALESCE(events.cause, 'unknown'), as the rates read it
    disappeared bigint NOT NULL,
    hidden      bigint NOT NULL,
    edited      bigint NOT NULL,
    restored    bigint NOT NULL,
    events      bigint NOT NULL,  -- of every kind: a key with other events still shows
    PRIMARY KEY (level, platform, group_name, day, cause)
);

CREATE TABLE IF NOT EXISTS stats_post_days (
    level       smallint NOT NULL,
    day         date NOT NULL,
    platform    text NOT NULL,
    group_name  text NOT NULL,
    posts       bigint NOT NULL,
    removed     bigint NOT NULL,
    PRIMARY KEY (level, platform, group_name, day)
);

CREATE TABLE IF NOT EXISTS stats_post_state (
    post_id     bigint PRIMARY KEY,
    day         date NOT NULL,
    platform    text NOT NULL,
    group_name  text NOT NULL,
    removed     boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS stats_answers (
    key          text PRIMARY KEY,
    computed_at  timestamptz NOT NULL,
    answer       jsonb NOT NULL
);

-- The partial days at a window's edges are read from posts by their start.
CREATE INDEX IF NOT EXISTS posts_start ON posts ((COALESCE(published_at, first_seen)));

-- Add (sign 1) or subtract (-1) events, given as a JSON array of their rollup
-- columns (a trigger's transition table cannot be passed on), at the three levels.
CREATE OR REPLACE FUNCTION stats_events_add(rows_ jsonb, sign integer) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stats_event_days AS s (level, platform, group_name, day, cause, disappeared,
                                       hidden, edited, restored, events)
    SELECT l.level,
           CASE WHEN l.level & 1 = 1 THEN x.platform ELSE '' END,
           CASE WHEN l.level & 2 = 2 THEN x.group_name ELSE '' END,
           x.day,
           CASE WHEN l.level & 4 = 4 THEN x.cause ELSE '' END,
           sign * count(*) FILTER (WHERE x.kind = 'disappeared'),
           sign * count(*) FILTER (WHERE x.kind = 'hidden'),
           sign * count(*) FILTER (WHERE x.kind = 'edited'),
           sign * count(*) FILTER (WHERE x.kind = 'restored'),
           sign * count(*)
    FROM (SELECT ((r->>'detected_at')::timestamptz AT TIME ZONE 'UTC')::date AS day,
                 r->>'platform' AS platform, r->>'group_name' AS group_name,
                 r->>'kind' AS kind, COALESCE(r->>'cause', 'unknown') AS cause
          FROM jsonb_array_elements(rows_) r) x
    CROSS JOIN (VALUES (1::smallint), (2::smallint), (3::smallint), (5::smallint),
                       (7::smallint)) l (level)
    GROUP BY 1, 2, 3, 4, 5
    -- one order for every writer: concurrent upserts cannot deadlock on these rows
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (level, platform, group_name, day, cause)
    DO UPDATE SET disappeared = s.disappeared + EXCLUDED.disappeared,
                  hidden = s.hidden + EXCLUDED.hidden, edited = s.edited + EXCLUDED.edited,
                  restored = s.restored + EXCLUDED.restored, events = s.events + EXCLUDED.events
$$;

-- Re-count these posts: recompute their state, subtract the stored one, add the new.
CREATE OR REPLACE FUNCTION stats_posts_refresh(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    WITH fresh AS MATERIALIZED (
        SELECT p.id AS post_id,
               (COALESCE(p.published_at, p.first_seen) AT TIME ZONE 'UTC')::date AS day,
               p.platform, t.group_name,
               EXISTS (SELECT 1 FROM events e
                       WHERE e.post_id = p.id AND e.kind = 'disappeared') AS removed
        FROM posts p JOIN targets t ON t.id = p.target_id
        WHERE p.id = ANY(ids)
    ), stale AS MATERIALIZED (
        SELECT s.* FROM stats_post_state s WHERE s.post_id = ANY(ids)
    ), changed AS MATERIALIZED (
        SELECT post_id FROM fresh f FULL JOIN stale s USING (post_id)
        WHERE (f.day, f.platform, f.group_name, f.removed)
              IS DISTINCT FROM (s.day, s.platform, s.group_name, s.removed)
    ), dropped AS (
        DELETE FROM stats_post_state s WHERE s.post_id IN (SELECT post_id FROM changed)
          AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.post_id = s.post_id)
    ), kept AS (
        INSERT INTO stats_post_state AS s
        SELECT f.* FROM fresh f WHERE f.post_id IN (SELECT post_id FROM changed)
        ON CONFLICT (post_id) DO UPDATE SET day = EXCLUDED.day, platform = EXCLUDED.platform,
            group_name = EXCLUDED.group_name, removed = EXCLUDED.removed
    ), delta AS (
        SELECT day, platform, group_name, 1 AS posts, removed::int AS removed
        FROM fresh WHERE post_id IN (SELECT post_id FROM changed)
        UNION ALL
        SELECT day, platform, group_name, -1, -(removed::int)
        FROM stale WHERE post_id IN (SELECT post_id FROM changed)
    )
    INSERT INTO stats_post_days AS s (level, day, platform, group_name, posts, removed)
    SELECT l.level, d.day,
           CASE WHEN l.level & 1 = 1 THEN d.platform ELSE '' END,
           CASE WHEN l.level & 2 = 2 THEN d.group_name ELSE '' END,
           sum(d.posts), sum(d.removed)
    FROM delta d
    CROSS JOIN (VALUES (1::smallint), (2::smallint), (3::smallint)) l (level)
    GROUP BY 1, 2, 3, 4
    HAVING sum(d.posts) <> 0 OR sum(d.removed) <> 0
    ORDER BY 1, 3, 4, 2
    ON CONFLICT (level, platform, group_name, day)
    DO UPDATE SET posts = s.posts + EXCLUDED.posts, removed = s.removed + EXCLUDED.removed;
END
$$;

CREATE OR REPLACE FUNCTION stats_on_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM stats_events_add((SELECT jsonb_agg(jsonb_build_object(
            'detected_at', detected_at, 'platform', platform, 'group_name', group_name,
            'kind', kind, 'cause', cause)) FROM old_rows), -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM stats_events_add((SELECT jsonb_agg(jsonb_build_object(
            'detected_at', detected_at, 'platform', platform, 'group_name', group_name,
            'kind', kind, 'cause', cause)) FROM new_rows), 1);
    END IF;
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY(SELECT DISTINCT post_id FROM new_rows WHERE kind = 'disappeared');
    ELSIF TG_OP = 'DELETE' THEN
        ids := ARRAY(SELECT DISTINCT post_id FROM old_rows WHERE kind = 'disappeared');
    ELSE
        ids := ARRAY(SELECT post_id FROM old_rows WHERE kind = 'disappeared'
                     UNION SELECT post_id FROM new_rows WHERE kind = 'disappeared');
    END IF;
    PERFORM stats_posts_refresh(ids);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION stats_on_posts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM stats_posts_refresh(ARRAY(SELECT id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM stats_posts_refresh(ARRAY(SELECT id FROM old_rows));
    ELSE
        PERFORM stats_posts_refresh(ARRAY[NEW.id]);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION stats_on_targets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_posts_refresh(ARRAY(SELECT id FROM posts WHERE target_id = NEW.id));
    RETURN NULL;
END
$$;

-- Events: per statement (a COPY or a multi-row INSERT is one call).
CREATE TRIGGER stats_events_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_on_events();
CREATE TRIGGER stats_events_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_on_events();
CREATE TRIGGER stats_events_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_on_events();

CREATE TRIGGER stats_posts_insert AFTER INSERT ON posts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_on_posts();
CREATE TRIGGER stats_posts_delete AFTER DELETE ON posts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_on_posts();
-- Every re-check updates posts: the WHEN keeps this off the hot path unless the
-- start, the target or the platform really changed (a cheap comparison per row).
CREATE TRIGGER stats_posts_update
    AFTER UPDATE OF published_at, first_seen, target_id, platform ON posts FOR EACH ROW
    WHEN (COALESCE(OLD.published_at, OLD.first_seen) IS DISTINCT FROM
          COALESCE(NEW.published_at, NEW.first_seen)
          OR OLD.target_id <> NEW.target_id OR OLD.platform <> NEW.platform)
    EXECUTE FUNCTION stats_on_posts();
CREATE TRIGGER stats_targets_group AFTER UPDATE OF group_name ON targets FOR EACH ROW
    WHEN (OLD.group_name IS DISTINCT FROM NEW.group_name)
    EXECUTE FUNCTION stats_on_targets();

-- Rebuild everything from the tables (after a bulk load with triggers off).
CREATE OR REPLACE FUNCTION stats_rollup_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE stats_event_days, stats_post_days, stats_post_state;
    -- In key order: each level's rows lie together on disk, so a query reads few pages.
    INSERT INTO stats_event_days (level, platform, group_name, day, cause, disappeared,
                                  hidden, edited, restored, events)
    SELECT l.level,
           CASE WHEN l.level & 1 = 1 THEN x.platform ELSE '' END,
           CASE WHEN l.level & 2 = 2 THEN x.group_name ELSE '' END,
           x.day,
           CASE WHEN l.level & 4 = 4 THEN x.cause ELSE '' END,
           COALESCE(sum(x.n) FILTER (WHERE x.kind = 'disappeared'), 0),
           COALESCE(sum(x.n) FILTER (WHERE x.kind = 'hidden'), 0),
           COALESCE(sum(x.n) FILTER (WHERE x.kind = 'edited'), 0),
           COALESCE(sum(x.n) FILTER (WHERE x.kind = 'restored'), 0),
           sum(x.n)
    FROM (SELECT (detected_at AT TIME ZONE 'UTC')::date AS day, platform, group_name, kind,
                 COALESCE(cause, 'unknown') AS cause, count(*) AS n
          FROM events GROUP BY 1, 2, 3, 4, 5) x
    CROSS JOIN (VALUES (1::smallint), (2::smallint), (3::smallint), (5::smallint),
                       (7::smallint)) l (level)
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5;
    INSERT INTO stats_post_state (post_id, day, platform, group_name, removed)
    SELECT p.id, (COALESCE(p.published_at, p.first_seen) AT TIME ZONE 'UTC')::date,
           p.platform, t.group_name, g.post_id IS NOT NULL
    FROM posts p JOIN targets t ON t.id = p.target_id
    LEFT JOIN (SELECT DISTINCT post_id FROM events WHERE kind = 'disappeared') g
           ON g.post_id = p.id;
    INSERT INTO stats_post_days (level, day, platform, group_name, posts, removed)
    SELECT l.level, x.day,
           CASE WHEN l.level & 1 = 1 THEN x.platform ELSE '' END,
           CASE WHEN l.level & 2 = 2 THEN x.group_name ELSE '' END,
           sum(x.posts), sum(x.removed)
    FROM (SELECT day, platform, group_name, count(*) AS posts,
                 count(*) FILTER (WHERE removed) AS removed
          FROM stats_post_state GROUP BY 1, 2, 3) x
    CROSS JOIN (VALUES (1::smallint), (2::smallint), (3::smallint)) l (level)
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 3, 4, 2;
END
$$;

SELECT stats_rollup_rebuild();
