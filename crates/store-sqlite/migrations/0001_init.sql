-- roster embedded store, version 1.
CREATE TABLE apps (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    credentials       TEXT NOT NULL,          -- JSON of AppCredentials
    enabled_dt_types  TEXT NOT NULL DEFAULT '' -- comma-separated bind_dt types
);

CREATE TABLE getui_tokens (
    digest      TEXT PRIMARY KEY,             -- sha256 of the token; the token is never stored
    app_id      TEXT NOT NULL REFERENCES apps(id),
    expires_at  INTEGER NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX getui_tokens_expiry ON getui_tokens(expires_at);

CREATE TABLE devices (
    id                   INTEGER PRIMARY KEY,  -- dense ordinal source for the audience index
    app_id               TEXT NOT NULL REFERENCES apps(id),
    cid                  TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    phone_type           TEXT NOT NULL,
    brand                TEXT,
    phone_model          TEXT,
    package_name         TEXT,
    client_app_id        TEXT,
    device_token         TEXT,
    device_token_type    TEXT,
    notification_switch  INTEGER NOT NULL,
    region               TEXT,
    app_version          TEXT,
    os                   TEXT,
    properties           TEXT NOT NULL DEFAULT '{}',
    online               INTEGER NOT NULL DEFAULT 0,
    create_time          INTEGER NOT NULL,
    last_login_time      INTEGER NOT NULL,
    badge                INTEGER NOT NULL DEFAULT 0,
    blacklisted          INTEGER NOT NULL DEFAULT 0,
    alias                TEXT,
    UNIQUE (app_id, cid)
);
CREATE INDEX devices_cid ON devices(cid);
CREATE INDEX devices_alias ON devices(app_id, alias) WHERE alias IS NOT NULL;

CREATE TABLE device_tags (
    device_id  INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    PRIMARY KEY (device_id, tag)
) WITHOUT ROWID;
CREATE INDEX device_tags_tag ON device_tags(tag, device_id);

CREATE TABLE device_login_days (
    device_id  INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    day        INTEGER NOT NULL,              -- CST day number
    PRIMARY KEY (device_id, day)
) WITHOUT ROWID;
