-- Takedown Monitor schema, version 20: the rollup trigger on posts' updates runs once
-- per statement, not once per row.
--
-- Version 12's row trigger ran stats_posts_refresh (a statement of five CTEs) for each
-- post whose start moved. A first check moves every new post's start (its publication
-- time becomes known), so recording 5,000 new posts ran it 5,000 times: 2.9 s of the
-- recorder's 6.5 s (one bench.cycle-sized cycle, timed per batch, 2026-12-01). Now one
-- statement trigger reads the statement's old and new rows (transition tables, which
-- PostgreSQL allows only without a column list, so it fires for every UPDATE of posts)
-- and refreshes the posts whose start, target or platform changed in one call; a
-- statement that moves none (the re-checks, the claims, the lease renewals) refreshes
-- nothing. The recorder writes a
-- batch's posts in one UPDATE (monitor/db/tracking.py), so a batch refreshes once.

DROP TRIGGER IF EXISTS stats_posts_update ON posts;

CREATE OR REPLACE FUNCTION stats_on_posts_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_posts_refresh(ARRAY(
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE COALESCE(o.published_at, o.first_seen) IS DISTINCT FROM
              COALESCE(n.published_at, n.first_seen)
           OR o.target_id <> n.target_id OR o.platform <> n.platform));
    RETURN NULL;
END
$$;

CREATE TRIGGER stats_posts_update AFTER UPDATE ON posts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_on_posts_update();
