-- Takedown Monitor schema, version 13: full-text search without recomputation.
--
-- Migration 009 indexed expressions (takedown_search_doc(title, raw_text)). A GIN
-- index holds no word positions, so a phrase (every Chinese query is a phrase of
-- characters) is rechecked against each candidate row, and with an expression index
-- that recheck recomputed the document per row (regexp + to_tsvector): seconds at
-- 1,000,000 events. Here the documents are stored, generated columns: computed once
-- when a row is written (also by COPY, also with triggers off), so a recheck only
-- reads them, and ANALYZE keeps per-lexeme statistics on them, which lets the
-- planner tell a rare term (collect its matches from the GIN index) from a frequent
-- one (walk the events newest first and stop after a page). The recording code
-- writes nothing new; adding the columns rewrites versions and events once.
-- The index names stay those of 009 (tests and the benchmark look for them).
--
-- Duplicates dropped: events_detected (001) is a prefix of events_recent (009);
-- events_group_recent, where a database has it, repeats events_group_detected (010).
--
-- Hot paths and their indexes:
--   text of any version              versions_search (GIN on versions.search_doc)
--   the platform's words             events_words_search (GIN on events.words_doc, partial)
--   a post's versions, one by one    versions_post_id_content_hash_key (post_id, ...)

ALTER TABLE versions ADD COLUMN search_doc tsvector
    GENERATED ALWAYS AS (takedown_search_doc(title, raw_text)) STORED;
ALTER TABLE events ADD COLUMN words_doc tsvector
    GENERATED ALWAYS AS (CASE WHEN evidence -> 'observed' ->> 'message' IS NOT NULL
        THEN takedown_search_doc(NULL, evidence -> 'observed' ->> 'message') END) STORED;

DROP INDEX IF EXISTS versions_search;
DROP INDEX IF EXISTS events_words_search;
CREATE INDEX versions_search ON versions USING gin (search_doc);
CREATE INDEX events_words_search ON events USING gin (words_doc) WHERE words_doc IS NOT NULL;

DROP INDEX IF EXISTS events_detected;
DROP INDEX IF EXISTS events_group_recent;
