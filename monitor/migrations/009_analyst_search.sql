-- Takedown Monitor schema, version 9: the analyst API's search and its hot paths.
--
-- Full-text search (monitor/db/analyst.py search_events) covers every version's title
-- and text and the platform's words in an event's evidence. Chinese and Japanese
-- have no spaces between words, and pg_trgm is missing or useless for them in a C
-- locale, so takedown_search_text puts spaces around each CJK character: each is one
-- lexeme of the 'simple' configuration (no stemming, no stop words, the same in every
-- locale), and a query is a phrase of them ('审' <-> '查' finds 关于审查的讨论).
-- Both are expression indexes: the core's recording code writes nothing new.
-- Input is capped at 100,000 characters so a huge post can never make a tsvector too
-- large, which would fail the core's insert of the version.
--
-- Hot paths and their indexes:
--   latest events, cursor pages      events_recent (detected_at, id)
--   filter by platform/cause/kind, newest first   events_<column>_recent
--   (by group: events_group_detected (group_name, detected_at, id), migration 010)
--   text of any version              versions_search (GIN)
--   the platform's words             events_words_search (GIN, partial)
--   an account's posts               posts_author (platform, author)

CREATE FUNCTION takedown_search_text(body text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(left(coalesce(body, ''), 100000),
        '([\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f])',
        ' \1 ', 'g')
$$;

CREATE FUNCTION takedown_search_doc(title text, body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('simple'::regconfig,
                       takedown_search_text(left(coalesce(title, ''), 2000) || ' '
                                            || left(coalesce(body, ''), 100000)))
$$;

CREATE INDEX versions_search ON versions USING gin (takedown_search_doc(title, raw_text));
CREATE INDEX events_words_search ON events
    USING gin (takedown_search_doc(NULL, evidence -> 'observed' ->> 'message'))
    WHERE evidence -> 'observed' ->> 'message' IS NOT NULL;

CREATE INDEX events_recent ON events (detected_at, id);
CREATE INDEX events_platform_recent ON events (platform, detected_at, id);
CREATE INDEX events_cause_recent ON events (cause, detected_at, id);
CREATE INDEX events_kind_recent ON events (kind, detected_at, id);
CREATE INDEX posts_author ON posts (platform, author);
