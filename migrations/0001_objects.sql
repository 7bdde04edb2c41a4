-- The seven Magnum objects and what the conductors need to coordinate.
-- Forward-only: never edit a released migration; add a new one (expand, then contract).

-- BayModels (ClusterTemplates). Names are unique per project.
CREATE TABLE baymodel (
    id                    BIGSERIAL PRIMARY KEY,
    uuid                  UUID        NOT NULL,
    project_id            TEXT        NOT NULL,
    user_id               TEXT        NOT NULL,
    name                  TEXT        NOT NULL,
    coe                   TEXT        NOT NULL CHECK (coe IN ('kubernetes', 'swarm', 'mesos')),
    image_id              TEXT        NOT NULL,
    flavor_id             TEXT,
    master_flavor_id      TEXT,
    keypair_id            TEXT,
    dns_nameserver        TEXT,
    external_network_id   TEXT,
    fixed_network         TEXT,
    fixed_subnet          TEXT,
    network_driver        TEXT,
    apiserver_port        INTEGER,
    docker_volume_size    INTEGER,
    docker_storage_driver TEXT        NOT NULL DEFAULT 'devicemapper',
    ssh_authorized_key    TEXT,
    cluster_distro        TEXT,
    http_proxy            TEXT,
    https_proxy           TEXT,
    no_proxy              TEXT,
    volume_driver         TEXT,
    insecure_registry     TEXT,
    labels                JSONB       NOT NULL DEFAULT '{}',
    registry_enabled      BOOLEAN     NOT NULL DEFAULT false,
    tls_disabled          BOOLEAN     NOT NULL DEFAULT false,
    public                BOOLEAN     NOT NULL DEFAULT false,
    hidden                BOOLEAN     NOT NULL DEFAULT false,
    floating_ip_enabled   BOOLEAN     NOT NULL DEFAULT true,
    master_lb_enabled     BOOLEAN     NOT NULL DEFAULT false,
    server_type           TEXT        NOT NULL DEFAULT 'vm',
    tags                  TEXT,
    driver                TEXT,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ,
    CONSTRAINT baymodel_uuid_key UNIQUE (uuid),
    CONSTRAINT baymodel_project_id_name_key UNIQUE (project_id, name)
);
CREATE INDEX baymodel_public_idx ON baymodel (public) WHERE public;

-- Bays (Clusters). `op`, `op_id` and the lease columns carry the conductor's work:
-- status changes and claims are compare-and-set on them.
CREATE TABLE bay (
    id                   BIGSERIAL PRIMARY KEY,
    uuid                 UUID        NOT NULL,
    project_id           TEXT        NOT NULL,
    user_id              TEXT        NOT NULL,
    name                 TEXT        NOT NULL,
    baymodel_id          UUID        NOT NULL,
    stack_id             TEXT,
    status               TEXT        NOT NULL CHECK (status IN (
                             'CREATE_IN_PROGRESS', 'CREATE_FAILED', 'CREATE_COMPLETE',
                             'UPDATE_IN_PROGRESS', 'UPDATE_FAILED', 'UPDATE_COMPLETE',
                             'DELETE_IN_PROGRESS', 'DELETE_FAILED', 'DELETE_COMPLETE')),
    status_reason        TEXT,
    api_address          TEXT,
    node_addresses       JSONB       NOT NULL DEFAULT '[]',
    master_addresses     JSONB       NOT NULL DEFAULT '[]',
    node_count           INTEGER     NOT NULL CHECK (node_count >= 0),
    master_count         INTEGER     NOT NULL CHECK (master_count >= 1),
    discovery_url        TEXT,
    ca_cert_ref          TEXT,
    magnum_cert_ref      TEXT,
    create_timeout       INTEGER     CHECK (create_timeout >= 0),
    labels               JSONB       NOT NULL DEFAULT '{}',
    keypair              TEXT,
    flavor_id            TEXT,
    master_flavor_id     TEXT,
    docker_volume_size   INTEGER,
    fixed_network        TEXT,
    fixed_subnet         TEXT,
    floating_ip_enabled  BOOLEAN,
    master_lb_enabled    BOOLEAN,
    health_status        TEXT        CHECK (health_status IN ('HEALTHY', 'UNHEALTHY', 'UNKNOWN')),
    health_status_reason JSONB,
    coe_version          TEXT,
    container_version    TEXT,
    -- The operation in progress (create/update/delete/resize/upgrade) and its fencing token.
    op                   TEXT,
    op_id                UUID,
    op_started_at        TIMESTAMPTZ,
    -- Node count to restore when a rolled-back update fails.
    rollback_node_count  INTEGER,
    -- Which conductor (server name) works on the bay, and until when its claim holds.
    lease_owner          TEXT,
    lease_expires_at     TIMESTAMPTZ,
    -- `_unique_id` of the message that created the row: a redelivered copy gets this row back.
    create_unique_id     TEXT,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ,
    CONSTRAINT bay_uuid_key UNIQUE (uuid),
    CONSTRAINT bay_project_id_name_key UNIQUE (project_id, name),
    CONSTRAINT bay_baymodel_id_fkey FOREIGN KEY (baymodel_id)
        REFERENCES baymodel (uuid) ON DELETE RESTRICT
);
CREATE INDEX bay_baymodel_id_idx ON bay (baymodel_id);
CREATE INDEX bay_op_idx ON bay (op_id) WHERE op IS NOT NULL;

-- Worker nodegroups beyond the two derived defaults.
CREATE TABLE nodegroup (
    id             BIGSERIAL PRIMARY KEY,
    uuid           UUID        NOT NULL,
    bay_uuid       UUID        NOT NULL REFERENCES bay (uuid) ON DELETE CASCADE,
    project_id     TEXT        NOT NULL,
    user_id        TEXT        NOT NULL,
    name           TEXT        NOT NULL,
    role           TEXT        NOT NULL DEFAULT 'worker',
    node_count     INTEGER     NOT NULL CHECK (node_count >= 0),
    min_node_count INTEGER     NOT NULL DEFAULT 0,
    max_node_count INTEGER,
    flavor_id      TEXT,
    image_id       TEXT,
    labels         JSONB       NOT NULL DEFAULT '{}',
    status         TEXT        NOT NULL,
    status_reason  TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ,
    CONSTRAINT nodegroup_uuid_key UNIQUE (uuid),
    CONSTRAINT nodegroup_bay_uuid_name_key UNIQUE (bay_uuid, name)
);

-- Nodes: made through the API (no bay), or mirrored by the conductor from a bay's backend.
CREATE TABLE node (
    id             BIGSERIAL PRIMARY KEY,
    uuid           UUID        NOT NULL,
    project_id     TEXT        NOT NULL,
    user_id        TEXT        NOT NULL,
    name           TEXT,
    type           TEXT,
    image_id       TEXT,
    ironic_node_id TEXT,
    bay_uuid       UUID        REFERENCES bay (uuid) ON DELETE CASCADE,
    nodegroup      TEXT,
    role           TEXT        CHECK (role IN ('master', 'worker')),
    status         TEXT        CHECK (status IN ('Ready', 'NotReady', 'Unknown')),
    addresses      JSONB       NOT NULL DEFAULT '[]',
    -- The backend's handle: a Kubernetes Node name or a Docker Engine endpoint.
    backend_id     TEXT,
    -- What the backend reports about it (engine version, capacity, …).
    backend_info   JSONB       NOT NULL DEFAULT '{}',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ,
    CONSTRAINT node_uuid_key UNIQUE (uuid)
);
CREATE INDEX node_bay_uuid_idx ON node (bay_uuid);
-- A backend machine serves at most one bay at a time.
CREATE UNIQUE INDEX node_backend_id_key ON node (backend_id) WHERE bay_uuid IS NOT NULL;

-- Kubernetes objects made from a tenant's manifest; names are unique per bay and kind.
CREATE TABLE pod (
    id           BIGSERIAL PRIMARY KEY,
    uuid         UUID        NOT NULL,
    project_id   TEXT        NOT NULL,
    user_id      TEXT        NOT NULL,
    bay_uuid     UUID        NOT NULL REFERENCES bay (uuid) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    "desc"       TEXT,
    images       JSONB       NOT NULL DEFAULT '[]',
    labels       JSONB       NOT NULL DEFAULT '{}',
    status       TEXT,
    host         TEXT,
    manifest     TEXT,
    manifest_url TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ,
    CONSTRAINT pod_uuid_key UNIQUE (uuid),
    CONSTRAINT pod_bay_uuid_name_key UNIQUE (bay_uuid, name)
);

CREATE TABLE service (
    id           BIGSERIAL PRIMARY KEY,
    uuid         UUID        NOT NULL,
    project_id   TEXT        NOT NULL,
    user_id      TEXT        NOT NULL,
    bay_uuid     UUID        NOT NULL REFERENCES bay (uuid) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    labels       JSONB       NOT NULL DEFAULT '{}',
    selector     JSONB       NOT NULL DEFAULT '{}',
    ip           TEXT,
    ports        JSONB       NOT NULL DEFAULT '[]',
    manifest     TEXT,
    manifest_url TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ,
    CONSTRAINT service_uuid_key UNIQUE (uuid),
    CONSTRAINT service_bay_uuid_name_key UNIQUE (bay_uuid, name)
);

CREATE TABLE replicationcontroller (
    id           BIGSERIAL PRIMARY KEY,
    uuid         UUID        NOT NULL,
    project_id   TEXT        NOT NULL,
    user_id      TEXT        NOT NULL,
    bay_uuid     UUID        NOT NULL REFERENCES bay (uuid) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    images       JSONB       NOT NULL DEFAULT '[]',
    labels       JSONB       NOT NULL DEFAULT '{}',
    replicas     INTEGER     NOT NULL DEFAULT 1 CHECK (replicas >= 0),
    manifest     TEXT,
    manifest_url TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ,
    CONSTRAINT replicationcontroller_uuid_key UNIQUE (uuid),
    CONSTRAINT replicationcontroller_bay_uuid_name_key UNIQUE (bay_uuid, name)
);

-- Docker containers in swarm bays; names are unique per bay.
CREATE TABLE container (
    id               BIGSERIAL PRIMARY KEY,
    uuid             UUID        NOT NULL,
    project_id       TEXT        NOT NULL,
    user_id          TEXT        NOT NULL,
    bay_uuid         UUID        NOT NULL REFERENCES bay (uuid) ON DELETE CASCADE,
    name             TEXT        NOT NULL,
    image            TEXT        NOT NULL,
    command          TEXT,
    memory           TEXT,
    environment      JSONB       NOT NULL DEFAULT '{}',
    status           TEXT        NOT NULL CHECK (status IN (
                         'Creating', 'Running', 'Stopped', 'Paused', 'Error', 'Unknown')),
    status_reason    TEXT,
    -- Node uuid of the Docker host running it, and the Engine's container id.
    host             UUID,
    backend_id       TEXT,
    op_id            UUID,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    create_unique_id TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ,
    CONSTRAINT container_uuid_key UNIQUE (uuid),
    CONSTRAINT container_bay_uuid_name_key UNIQUE (bay_uuid, name)
);

-- Per-bay certificate material: the bay CA and the conductor's own client pair.
CREATE TABLE x509keypair (
    id          BIGSERIAL PRIMARY KEY,
    uuid        UUID        NOT NULL,
    project_id  TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    name        TEXT,
    bay_uuid    UUID        REFERENCES bay (uuid) ON DELETE CASCADE,
    ca_cert     TEXT,
    certificate TEXT        NOT NULL,
    private_key TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ,
    CONSTRAINT x509keypair_uuid_key UNIQUE (uuid)
);

-- Conductors: one row per process (server name), heartbeating `last_seen_up`.
CREATE TABLE magnum_service (
    id              BIGSERIAL PRIMARY KEY,
    server_name     TEXT        NOT NULL,
    host            TEXT        NOT NULL,
    "binary"        TEXT        NOT NULL,
    disabled        BOOLEAN     NOT NULL DEFAULT false,
    disabled_reason TEXT,
    forced_down     BOOLEAN     NOT NULL DEFAULT false,
    last_seen_up    TIMESTAMPTZ,
    report_count    INTEGER     NOT NULL DEFAULT 0,
    rpc_api_max     TEXT        NOT NULL,
    object_versions JSONB       NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ,
    CONSTRAINT magnum_service_server_name_key UNIQUE (server_name)
);

-- Quotas: a hard limit per project and resource.
CREATE TABLE quota (
    id         BIGSERIAL PRIMARY KEY,
    project_id TEXT        NOT NULL,
    resource   TEXT        NOT NULL,
    hard_limit INTEGER     NOT NULL CHECK (hard_limit >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ,
    CONSTRAINT quota_project_id_resource_key UNIQUE (project_id, resource)
);

-- Messages whose effect must happen once (container exec), kept for a day.
CREATE TABLE rpc_dedupe (
    unique_id  TEXT        PRIMARY KEY,
    method     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
