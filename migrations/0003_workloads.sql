-- Pods, services and replication controllers in one table, told apart by `kind`: the three
-- share their lifecycle, their bay, their name rule (unique per bay and kind) and their
-- manifest, and the conductor handles them with one set of queries. The per-kind tables of
-- 0001 were never written by any release, so nothing is carried over.
DROP TABLE pod;
DROP TABLE service;
DROP TABLE replicationcontroller;

CREATE TABLE workload (
    id             BIGSERIAL PRIMARY KEY,
    uuid           UUID        NOT NULL,
    kind           TEXT        NOT NULL
                   CHECK (kind IN ('Pod', 'Service', 'ReplicationController')),
    project_id     TEXT        NOT NULL,
    user_id        TEXT        NOT NULL,
    bay_uuid       UUID        NOT NULL REFERENCES bay (uuid) ON DELETE CASCADE,
    name           TEXT        NOT NULL,
    "desc"         TEXT,
    images         JSONB,
    labels         JSONB       NOT NULL DEFAULT '{}',
    -- What Kubernetes shows: a pod's phase and node, a service's selector, cluster IP and
    -- ports, an RC's desired and ready replicas. NULL where the kind has no such field.
    status         TEXT,
    host           TEXT,
    selector       JSONB,
    ip             TEXT,
    ports          JSONB,
    replicas       INTEGER     CHECK (replicas >= 0),
    ready_replicas INTEGER,
    manifest       TEXT        NOT NULL,
    manifest_url   TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ,
    CONSTRAINT workload_uuid_key UNIQUE (uuid),
    CONSTRAINT workload_bay_uuid_kind_name_key UNIQUE (bay_uuid, kind, name)
);

CREATE INDEX workload_project_kind_idx ON workload (project_id, kind);
