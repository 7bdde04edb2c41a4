-- Worker nodegroups (specs/0002): every mirrored node records the group it was claimed for, so
-- each group shows its own nodes and scaling one group never releases another's. Nodes mirrored
-- before groups existed belong to the bay's default worker group.
UPDATE node SET nodegroup = 'default-worker' WHERE bay_uuid IS NOT NULL AND nodegroup IS NULL;
CREATE INDEX node_bay_uuid_nodegroup_idx ON node (bay_uuid, nodegroup);

-- What a tenant may set on a group besides 0001's columns; statuses in the bay's vocabulary.
ALTER TABLE nodegroup ADD COLUMN docker_volume_size INTEGER CHECK (docker_volume_size > 0);
ALTER TABLE nodegroup ADD CONSTRAINT nodegroup_status_check
    CHECK (status IN ('CREATE_IN_PROGRESS', 'CREATE_FAILED', 'CREATE_COMPLETE',
                      'UPDATE_IN_PROGRESS', 'UPDATE_FAILED', 'UPDATE_COMPLETE',
                      'DELETE_IN_PROGRESS', 'DELETE_FAILED', 'DELETE_COMPLETE'));
ALTER TABLE nodegroup ADD CONSTRAINT nodegroup_role_check CHECK (role = 'worker');
ALTER TABLE nodegroup ADD CONSTRAINT nodegroup_min_node_count_check CHECK (min_node_count >= 0);
CREATE INDEX nodegroup_bay_uuid_idx ON nodegroup (bay_uuid);
