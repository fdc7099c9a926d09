-- Dense per-app device ordinals for the audience index, and indexes for the SQL
-- evaluation of audience selectors.
ALTER TABLE apps ADD COLUMN next_ord INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN ord INTEGER NOT NULL DEFAULT -1;
UPDATE devices SET ord = (
    SELECT COUNT(*) FROM devices AS earlier
    WHERE earlier.app_id = devices.app_id AND earlier.id < devices.id
);
UPDATE apps SET next_ord = (SELECT COUNT(*) FROM devices WHERE devices.app_id = apps.id);
CREATE UNIQUE INDEX devices_ord ON devices(app_id, ord);
CREATE INDEX devices_phone_type ON devices(app_id, phone_type);
CREATE INDEX devices_region ON devices(app_id, region);
CREATE INDEX devices_brand ON devices(app_id, brand);
