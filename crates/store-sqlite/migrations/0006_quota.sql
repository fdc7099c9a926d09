-- Rate limits and quotas. `apps.time_zone` is the app's day boundary (NULL: the
-- default, Asia/Shanghai); `app_limits` holds the actions whose windows the admin
-- changed, every window resolved (NULL: off); `quota_usage` counts the calls each daily
-- quota admitted, per app, action, cid ('' when the quota is not per cid) and calendar
-- day (YYYYMMDD in the app's zone), until `expires_at`, the end of that day.
ALTER TABLE apps ADD COLUMN time_zone TEXT;

CREATE TABLE app_limits (
    app_id           TEXT NOT NULL REFERENCES apps(id),
    action           TEXT NOT NULL,
    per_second       INTEGER,
    per_minute       INTEGER,
    per_day          INTEGER,
    per_cid_per_day  INTEGER,
    PRIMARY KEY (app_id, action)
);

CREATE TABLE quota_usage (
    app_id      TEXT NOT NULL,
    action      TEXT NOT NULL,
    cid         TEXT NOT NULL,
    day         INTEGER NOT NULL,
    used        INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, action, day, cid)
);
CREATE INDEX quota_usage_expiry ON quota_usage (expires_at);
