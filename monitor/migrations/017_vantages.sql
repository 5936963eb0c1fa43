-- Takedown Monitor schema, version 17: the vantage points a target is fetched from.
--
-- The watchlist names vantage points ([vantages.<name>]: a proxy with a country) and
-- a group or target lists the ones it allows (vantages = ["de", "us"]). sync_targets
-- stores the names here, in the watchlist's order; the first is the target's home:
-- its listing and ordinary re-checks go through it. A post that is suspect, or
-- hidden by geo-blocking, is claimed once per name (one work item per vantage point,
-- same post). NULL or empty: this machine's own network (the VANTAGE setting), as
-- before. Proxies (which may hold credentials) are never stored: the worker maps the
-- names to the watchlist's vantage points when it claims.

ALTER TABLE targets ADD COLUMN vantages text[];

