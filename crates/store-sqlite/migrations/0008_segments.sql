-- Saved segments: a named selector of an app (JSON), resolved when a count runs.
CREATE TABLE segments (
    app_id      TEXT NOT NULL REFERENCES apps(id),
    name        TEXT NOT NULL,
    selector    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
);
