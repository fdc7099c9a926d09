-- The change log: every committed write of an app, numbered by the app's own seq.
-- `seq` is the app's last committed write, `pruned_through` the last seq retention
-- removed (a reader resuming from before it has missed changes).
ALTER TABLE apps ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN pruned_through BIGINT NOT NULL DEFAULT 0;

CREATE TABLE changes (
    app_id  TEXT NOT NULL REFERENCES apps(id),
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    lines   BIGINT NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (app_id, seq)
);

-- Retention looks for each app's changes older than a time.
CREATE INDEX changes_at ON changes (app_id, at);
