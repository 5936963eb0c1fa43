-- Takedown Monitor schema, version 7: a target says whether it is one post.
--
-- A target is either a listing (an account, a feed: walked on its own schedule,
-- targets.next_due) or a single post (only its post is probed; next_due stays
-- NULL). Which kinds are single posts is the platform's to declare (a kind with a
-- post_ref, whatever its name: post, page, thread…), so the core stops comparing
-- kind names: sync_targets writes this column from the declaration, and the
-- claims, the scheduler and the state machine read it.
--
-- Every platform installed before this version named its single-post kind
-- 'post', so that is what the backfill reads.

ALTER TABLE targets ADD COLUMN single_post boolean NOT NULL DEFAULT false;
UPDATE targets SET single_post = true WHERE kind = 'post';
