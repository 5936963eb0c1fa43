-- Takedown Monitor schema, version 8: a target's per-kind options.
--
-- A platform's kind may declare options of its own (monitor.platform.Kind.options,
-- e.g. RSS's article_selector). The watchlist checks them; sync_targets writes
-- them here, and the claims hand them to the spider in each work item's `known`
-- (the listing's and every probe of the target's posts); an option overrides a key
-- of the same name in a post's own `known`: the watchlist says what is wanted now.

ALTER TABLE targets ADD COLUMN options jsonb NOT NULL DEFAULT '{}';
