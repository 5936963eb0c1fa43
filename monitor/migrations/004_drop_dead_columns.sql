-- Takedown Monitor schema, version 4: two columns nothing read or wrote.
--
-- posts.check_step was written on every re-check and never read (the cadence
-- counts from first_seen). targets.known was read into each listing's work item
-- but never written: it was always '{}'. A post's own `known` (tokens, ids, the
-- probe back-off streak) stays.

ALTER TABLE posts DROP COLUMN check_step;
ALTER TABLE targets DROP COLUMN known;
