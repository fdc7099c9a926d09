-- Credential rotation. Every key's current secret lives in `credentials` (the Getui
-- `appkey` with its master secret too, kind `getui`) with the time it was issued; a
-- rotation moves the replaced secret to `retired_secrets`, where it keeps working
-- until `expires_at` (ms). Key ids never change.
ALTER TABLE credentials ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
UPDATE credentials SET created_at = (SELECT created_at FROM apps WHERE apps.id = credentials.app_id);
INSERT INTO credentials (key, secret, app_id, kind, created_at)
    SELECT json_extract(credentials, '$.getui.app_key'), json_extract(credentials, '$.getui.master_secret'), id, 'getui', created_at FROM apps;
CREATE INDEX credentials_app ON credentials (app_id);

CREATE TABLE retired_secrets (
    key         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    app_id      TEXT NOT NULL REFERENCES apps(id),
    kind        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (key, secret)
);
CREATE INDEX retired_secrets_app ON retired_secrets (app_id);
