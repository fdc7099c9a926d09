-- Rate limits and quotas. `apps.time_zone` is the app's day boundary (NULL: the
-- default, Asia/Shanghai); `app_limits` holds the actions whose windows the admin
-- changed, every window resolved (NULL: off); `quota_usage` counts the calls each daily
-- quota admitted, per app, action, cid ('' when the quota is not per cid) and calendar
-- day (YYYYMMDD in the app's zone), until `expires_at`, the end of that day.
ALTER TABLE apps ADD COLUMN time_zone TEXT;

CREATE TABLE app_limits (
    app_id           TEXT NOT NULL REFERENCES apps(id),
    action           TEXT NOT NULL,
    per_second       BIGINT,
    per_minute       BIGINT,
    per_day          BIGINT,
    per_cid_per_day  BIGINT,
    PRIMARY KEY (app_id, action)
);

CREATE TABLE quota_usage (
    app_id      TEXT NOT NULL,
    action      TEXT NOT NULL,
    cid         TEXT NOT NULL,
    day         BIGINT NOT NULL,
    used        BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, action, day, cid)
);
CREATE INDEX quota_usage_expiry ON quota_usage (expires_at);
