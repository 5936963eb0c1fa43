-- Takedown Monitor schema, version 14: the evidence archive (monitor/db/archive.py).
--
-- The raw capture (request, response headers, body) of an observation an event may
-- rest on, kept as its gzipped WARC request + response records (monitor/archive.py).
-- Only new observation rows, confirming probes and probes that made an event carry
-- one (monitor/runs.py): an unchanged re-check stores nothing here.
--
-- One listing fetch serves many observation rows (the listing's own and one per
-- entry): its capture is stored once, with observation_id its first row, and
-- archive_links names every row it serves (the WARC's WARC-Takedown-Observation
-- header lists the same ids, so the chained warc_sha256 commits to them).
--
-- Retention (ARCHIVE_RETENTION) deletes records no event rests on and that are not
-- the capture of a post's current version; the links go with them.

CREATE TABLE archive_records (
    id              bigserial PRIMARY KEY,
    observation_id  bigint NOT NULL REFERENCES observations (id) ON DELETE CASCADE,
    captured_at     timestamptz NOT NULL,
    target_uri      text NOT NULL,
    payload_sha256  text NOT NULL,
    warc_sha256     text NOT NULL,
    size            integer NOT NULL,
    warc            bytea NOT NULL
);
-- The WARC bytes are gzip already: no second compression attempt on TOAST.
ALTER TABLE archive_records ALTER COLUMN warc SET STORAGE EXTERNAL;
CREATE INDEX archive_records_captured ON archive_records (captured_at);

CREATE TABLE archive_links (
    observation_id  bigint NOT NULL REFERENCES observations (id) ON DELETE CASCADE,
    record_id       bigint NOT NULL REFERENCES archive_records (id) ON DELETE CASCADE,
    PRIMARY KEY (observation_id, record_id)
);
CREATE INDEX archive_links_record ON archive_links (record_id);
