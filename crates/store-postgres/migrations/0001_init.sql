-- roster on PostgreSQL, version 1: the same model as the embedded store.
CREATE TABLE apps (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    credentials       TEXT NOT NULL,
    enabled_dt_types  TEXT NOT NULL DEFAULT '',
    next_ord          BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE getui_tokens (
    digest      TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id),
    expires_at  BIGINT NOT NULL,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX getui_tokens_expiry ON getui_tokens(expires_at);

CREATE TABLE devices (
    id                   BIGSERIAL PRIMARY KEY,
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
    notification_switch  BOOLEAN NOT NULL,
    region               TEXT,
    app_version          TEXT,
    os                   TEXT,
    properties           TEXT NOT NULL DEFAULT '{}',
    online               BOOLEAN NOT NULL DEFAULT FALSE,
    create_time          BIGINT NOT NULL,
    last_login_time      BIGINT NOT NULL,
    badge                BIGINT NOT NULL DEFAULT 0,
    blacklisted          BOOLEAN NOT NULL DEFAULT FALSE,
    alias                TEXT,
    ord                  BIGINT NOT NULL,
    UNIQUE (app_id, cid),
    UNIQUE (app_id, ord)
);
CREATE INDEX devices_cid ON devices(cid);
CREATE INDEX devices_alias ON devices(app_id, alias) WHERE alias IS NOT NULL;
CREATE INDEX devices_phone_type ON devices(app_id, phone_type);
CREATE INDEX devices_region ON devices(app_id, region);
CREATE INDEX devices_brand ON devices(app_id, brand);

CREATE TABLE device_tags (
    device_id  BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    PRIMARY KEY (device_id, tag)
);
CREATE INDEX device_tags_tag ON device_tags(tag, device_id);

CREATE TABLE device_login_days (
    device_id  BIGINT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    day        BIGINT NOT NULL,
    PRIMARY KEY (device_id, day)
);

CREATE TABLE credentials (
    key     TEXT PRIMARY KEY,
    secret  TEXT NOT NULL,
    app_id  TEXT NOT NULL REFERENCES apps(id),
    kind    TEXT NOT NULL
);

CREATE TABLE ums_channels (
    channel_key  TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES apps(id),
    code         TEXT NOT NULL,
    UNIQUE (app_id, code)
);

CREATE TABLE ums_senders (
    app_id  TEXT NOT NULL REFERENCES apps(id),
    code    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    PRIMARY KEY (app_id, code)
);

CREATE TABLE ums_grants (
    channel_key  TEXT NOT NULL REFERENCES ums_channels(channel_key),
    sender_code  TEXT NOT NULL,
    PRIMARY KEY (channel_key, sender_code)
);

CREATE TABLE identity_names (
    app_id     TEXT NOT NULL REFERENCES apps(id),
    name       TEXT NOT NULL,
    is_unique  BOOLEAN NOT NULL,
    priority   BIGINT NOT NULL,
    PRIMARY KEY (app_id, name)
);

-- A sequence never goes back, so a uid is never reused.
CREATE TABLE users (
    uid         BIGSERIAL PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id),
    created_at  BIGINT NOT NULL,
    properties  TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE user_identities (
    app_id  TEXT NOT NULL,
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    uid     BIGINT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    PRIMARY KEY (app_id, name, value)
);
CREATE INDEX user_identities_uid ON user_identities(uid);

CREATE TABLE user_contacts (
    uid    BIGINT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    kind   TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (uid, kind)
);

CREATE TABLE ums_bindings (
    uid      BIGINT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    field    TEXT NOT NULL,
    bind_id  TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (uid, field, bind_id, value)
);
