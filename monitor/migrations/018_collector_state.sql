-- Takedown Monitor schema, version 18: collector health per platform and vantage point.
--
-- monitor/collector.py decides, from the checks of the last COLLECTOR_WINDOW, whether
-- a platform blocks the collector at one vantage point (captcha, login wall, expired
-- token, the platform's block) or is out there (many targets absent at once). While
-- it is, absences seen there are recorded but decide nothing. collector_state holds
-- the current state of each (platform, vantage) the recorder has written, so a
-- restarted recorder keeps it; collector_state_changes is the history of every
-- change, with when (the observation's time) and why.

CREATE TABLE collector_state (
    platform   text        NOT NULL,
    vantage    text        NOT NULL,
    state      text        NOT NULL CHECK (state IN ('ok', 'blocked', 'outage')),
    since      timestamptz NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (platform, vantage)
);

CREATE TABLE collector_state_changes (
    id          bigserial   PRIMARY KEY,
    platform    text        NOT NULL,
    vantage     text        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('ok', 'blocked', 'outage')),
    previous    text        NOT NULL,
    at          timestamptz NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX collector_state_changes_key ON collector_state_changes (platform, vantage, at);
