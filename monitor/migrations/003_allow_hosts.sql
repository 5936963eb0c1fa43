-- Takedown Monitor schema, version 3: the fetch policy's per-target host allowance.
--
-- A spider fetches only from the target's own host and from the hosts listed
-- here (watchlist `allow_hosts`, on the target or its group; `*.example.org`
-- wildcards allowed). claim_due hands them to the spider with each work item.

ALTER TABLE targets ADD COLUMN allow_hosts text[] NOT NULL DEFAULT '{}';
