-- Bay users' client certificates name the bay's credential generation in their group
-- (magnum:bay:<uuid>:g<generation>); rotating the bay's certificates or credentials moves the
-- bay's rights to the next generation, so every earlier certificate stops working (specs/0002).
ALTER TABLE bay ADD COLUMN credential_generation INTEGER NOT NULL DEFAULT 0
    CHECK (credential_generation >= 0);
