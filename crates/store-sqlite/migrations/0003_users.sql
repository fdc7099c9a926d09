-- The identity graph: users, identities, contacts, UMS channels, senders and bindings,
-- and the Basic-auth keys of UMS, Growth and EngageLab.
CREATE TABLE credentials (
    key     TEXT PRIMARY KEY,
    secret  TEXT NOT NULL,
    app_id  TEXT NOT NULL REFERENCES apps(id),
    kind    TEXT NOT NULL              -- ums_access | ums_channel | growth | engagelab
);
INSERT INTO credentials (key, secret, app_id, kind)
    SELECT json_extract(credentials, '$.ums.access_key'), json_extract(credentials, '$.ums.access_secret'), id, 'ums_access' FROM apps;
INSERT INTO credentials (key, secret, app_id, kind)
    SELECT json_extract(credentials, '$.ums.channel_key'), json_extract(credentials, '$.ums.channel_master_secret'), id, 'ums_channel' FROM apps;
INSERT INTO credentials (key, secret, app_id, kind)
    SELECT json_extract(credentials, '$.growth.project_id'), json_extract(credentials, '$.growth.project_secret'), id, 'growth' FROM apps;
INSERT INTO credentials (key, secret, app_id, kind)
    SELECT json_extract(credentials, '$.engagelab.api_key'), json_extract(credentials, '$.engagelab.api_secret'), id, 'engagelab' FROM apps;

CREATE TABLE ums_channels (
    channel_key  TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES apps(id),
    code         TEXT NOT NULL,
    UNIQUE (app_id, code)
);
INSERT INTO ums_channels (channel_key, app_id, code)
    SELECT json_extract(credentials, '$.ums.channel_key'), id, json_extract(credentials, '$.ums.channel_code') FROM apps;

CREATE TABLE ums_senders (
    app_id  TEXT NOT NULL REFERENCES apps(id),
    code    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    PRIMARY KEY (app_id, code)
);
INSERT INTO ums_senders (app_id, code, kind)
    SELECT id, json_extract(credentials, '$.ums.app_sender_code'), 'app' FROM apps;

CREATE TABLE ums_grants (
    channel_key  TEXT NOT NULL REFERENCES ums_channels(channel_key),
    sender_code  TEXT NOT NULL,
    PRIMARY KEY (channel_key, sender_code)
);
INSERT INTO ums_grants (channel_key, sender_code)
    SELECT json_extract(credentials, '$.ums.channel_key'), json_extract(credentials, '$.ums.app_sender_code') FROM apps;

CREATE TABLE identity_names (
    app_id     TEXT NOT NULL REFERENCES apps(id),
    name       TEXT NOT NULL,
    is_unique  INTEGER NOT NULL,
    priority   INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
);

-- AUTOINCREMENT: a uid is never reused, even after its user is deleted.
CREATE TABLE users (
    uid         INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id      TEXT NOT NULL REFERENCES apps(id),
    created_at  INTEGER NOT NULL,
    properties  TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE user_identities (
    app_id  TEXT NOT NULL,
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    uid     INTEGER NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    PRIMARY KEY (app_id, name, value)
);
CREATE INDEX user_identities_uid ON user_identities(uid);

CREATE TABLE user_contacts (
    uid    INTEGER NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    kind   TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (uid, kind)
);

CREATE TABLE ums_bindings (
    uid      INTEGER NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    field    TEXT NOT NULL,
    bind_id  TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (uid, field, bind_id, value)
);
