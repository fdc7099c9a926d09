-- The change log: every committed write of an app, numbered by the app's own seq.
-- `seq` is the app's last committed write, `pruned_through` the last seq retention
-- removed (a reader resuming from before it has missed changes).
ALTER TABLE apps ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN pruned_through INTEGER NOT NULL DEFAULT 0;

CREATE TABLE changes (
    app_id  TEXT NOT NULL REFERENCES apps(id),
    seq     INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    lines   INTEGER NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (app_id, seq)
) WITHOUT ROWID;

-- Retention looks for each app's changes older than a time.
CREATE INDEX changes_at ON changes (app_id, at);
