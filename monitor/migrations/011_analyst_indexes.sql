-- Takedown Monitor schema, version 11: an index the statistics' hot path needs.
--
-- Migration 009 indexes the event lists and the text search; this one serves the
-- statistics (monitor/db/stats.py). Both the survival curves and the deletion
-- rates start from each post's first disappearance:
--   SELECT DISTINCT ON (post_id) post_id, cause, last_seen_visible, first_seen_gone ...
--   FROM events WHERE kind = 'disappeared' ORDER BY post_id, detected_at, id
-- Without this index that is a sequential scan of every event plus a sort that
-- spills to disk (~1.5 s of the 6 s survival query at 1,000,000 events, bench/api.py,
-- on a loaded machine); with it, an index-only scan already in order (~0.4 s).
-- Partial: only disappearances (about half the events); INCLUDE carries the columns
-- the curves read, so the heap is not visited once the table is vacuumed.
--
-- Hot paths and their indexes:
--   a post's first disappearance (survival, rates)   events_disappeared_post

CREATE INDEX IF NOT EXISTS events_disappeared_post ON events (post_id, detected_at, id)
    INCLUDE (cause, last_seen_visible, first_seen_gone)
    WHERE kind = 'disappeared';
