-- Takedown Monitor schema, version 15: tamper evidence, a hash chain over recorded rows.
--
-- One entry per observation, event and archived capture, appended in the
-- transaction that wrote the row (monitor/db/chain.py); a legitimate deletion is an
-- entry too (kind 'retire:<kind>', its reason in note). Each entry's hash commits
-- to the previous one's, so a removed or edited row, or a removed entry, shows.
--
-- chain_head is the one row every append locks FOR UPDATE: appends are serialised
-- and seq has no gaps. Its `since` holds the largest id of each chained table when
-- the chain began: rows above it must all be chained (older rows predate it).
--
-- chain refuses UPDATE, DELETE and TRUNCATE. A superuser can disable the triggers
-- (or set session_replication_role = replica); verification then finds the gap.

CREATE TABLE chain (
    seq     bigint PRIMARY KEY,
    kind    text NOT NULL,
    row_id  bigint NOT NULL,
    digest  text NOT NULL,
    prev    text NOT NULL,
    hash    text NOT NULL,
    note    text,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX chain_row ON chain (kind, row_id);

CREATE TABLE chain_head (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq    bigint NOT NULL DEFAULT 0,
    hash   text NOT NULL DEFAULT repeat('0', 64),
    since  jsonb NOT NULL DEFAULT '{}'
);

DO $$
DECLARE
    baseline jsonb := jsonb_build_object(
        'observation', (SELECT coalesce(max(id), 0) FROM observations),
        'event', (SELECT coalesce(max(id), 0) FROM events));
    top bigint := 0;
BEGIN
    IF to_regclass('archive_records') IS NOT NULL THEN
        EXECUTE 'SELECT coalesce(max(id), 0) FROM archive_records' INTO top;
    END IF;
    INSERT INTO chain_head (since) VALUES (baseline || jsonb_build_object('capture', top));
END $$;

CREATE FUNCTION chain_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the hash chain is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING HINT = 'A legitimate deletion of a chained row is recorded with '
                     'monitor.db.chain.retire, never by editing the chain.';
END $$;

CREATE TRIGGER chain_no_update BEFORE UPDATE OR DELETE ON chain
    FOR EACH ROW EXECUTE FUNCTION chain_append_only();
CREATE TRIGGER chain_no_truncate BEFORE TRUNCATE ON chain
    FOR EACH STATEMENT EXECUTE FUNCTION chain_append_only();
CREATE TRIGGER chain_head_no_delete BEFORE DELETE ON chain_head
    FOR EACH ROW EXECUTE FUNCTION chain_append_only();
CREATE TRIGGER chain_head_no_truncate BEFORE TRUNCATE ON chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION chain_append_only();
