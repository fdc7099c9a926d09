-- Smart crowds. A plan (Getui's "parent task") is also its job: `job` is queued,
-- running or done; `claim` names the runner that holds it (a fresh token per claim),
-- `heartbeat_at` when that runner last said it is alive (a stale one is re-claimed).
CREATE TABLE crowd_plans (
    plan_id       TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps(id),
    ord           BIGINT NOT NULL,
    name          TEXT NOT NULL,
    brand_list    TEXT NOT NULL,
    package_num   BIGINT NOT NULL,
    active_range  BIGINT NOT NULL,
    active_type   BIGINT NOT NULL,
    is_overlap    BOOLEAN NOT NULL,
    create_time   BIGINT NOT NULL,
    job           TEXT NOT NULL,
    claim         TEXT,
    heartbeat_at  BIGINT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    started_at    BIGINT,
    ended_at      BIGINT
);
CREATE INDEX crowd_plans_app ON crowd_plans (app_id, ord);
CREATE INDEX crowd_plans_job ON crowd_plans (job, create_time);

-- One sub-task per copy; `members` is the crowd once it succeeded (a serialised
-- roaring bitmap of device ordinals, base64), `terms` the copy's weighted terms (JSON).
CREATE TABLE crowd_tasks (
    sub_task_id  TEXT PRIMARY KEY,
    plan_id      TEXT NOT NULL REFERENCES crowd_plans(plan_id),
    app_id       TEXT NOT NULL,
    pos          BIGINT NOT NULL,
    topic        TEXT NOT NULL,
    content      TEXT NOT NULL,
    status       BIGINT NOT NULL,
    scored       BIGINT NOT NULL DEFAULT 0,
    size         BIGINT NOT NULL DEFAULT 0,
    terms        TEXT,
    members      TEXT
);
CREATE INDEX crowd_tasks_plan ON crowd_tasks (plan_id, pos);

-- Copy a device opened (native event `open`): the engagement smart crowds score.
CREATE TABLE device_opens (
    app_id   TEXT NOT NULL REFERENCES apps(id),
    ordinal  BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    text     TEXT NOT NULL
);
CREATE INDEX device_opens_text ON device_opens (app_id, text, ordinal);
