# shellcheck shell=bash
#
# Install (when missing) and start (when stopped) the real services that
# magnum-rs runs against: PostgreSQL, RabbitMQ and Docker Engine.
#
# Source this file, then call the ensure_* functions you need:
#
#   source scripts/lib/services.sh
#   ensure_postgres        # exports MAGNUM_DB_URL, DATABASE_URL
#   ensure_rabbitmq        # exports MAGNUM_TRANSPORT_URL, MAGNUM_TEST_AMQP_URL
#   ensure_dockerd         # exports MAGNUM_TEST_DOCKER_HOST
#   ensure_test_image      # image magnum-test/busybox:latest on that engine
#   ensure_second_dockerd  # exports MAGNUM_TEST_DOCKER_HOST2
#   ensure_test_image "$MAGNUM_TEST_DOCKER_HOST2"
#
# Every function is idempotent and quick when the service already runs. They
# work under `set -euo pipefail` and do not change the caller's shell options;
# each returns non-zero (after printing the tail of the relevant log) when a
# service cannot be installed or started. apt-get output goes to
# $MAGNUM_SETUP_LOG, not to the terminal.
#
# Written for Debian 12 without systemd, run as root (sudo is used otherwise).

# Guard against double sourcing.
if [[ -n ${_MAGNUM_SERVICES_SH:-} ]]; then
    return 0
fi
_MAGNUM_SERVICES_SH=1

if ((EUID == 0)); then
    : "${MAGNUM_SETUP_LOG:=/var/log/magnum-setup.log}"
else
    : "${MAGNUM_SETUP_LOG:=${TMPDIR:-/tmp}/magnum-setup.log}"
fi

# The service endpoints this file sets up. They are fixed: the functions below
# create exactly these roles, users and vhosts.
export MAGNUM_DB_URL=postgres://magnum:magnum@127.0.0.1:5432/magnum
export DATABASE_URL=$MAGNUM_DB_URL
export MAGNUM_TRANSPORT_URL=rabbit://magnum:magnum@127.0.0.1:5672/magnum
export MAGNUM_TEST_AMQP_URL=amqp://magnum:magnum@127.0.0.1:5672/magnum-test

MAGNUM_DOCKER_SOCK=/var/run/docker.sock
MAGNUM_DOCKER2_SOCK=/var/run/magnum-docker2.sock
MAGNUM_TEST_IMAGE=magnum-test/busybox:latest

# --------------------------------------------------------------------------
# helpers

_svc_say() {
    printf '==> %s\n' "$*"
}

# _svc_fail MESSAGE [LOGFILE]: print MESSAGE and the tail of LOGFILE to stderr.
_svc_fail() {
    printf '==> ERROR: %s\n' "$1" >&2
    if [[ -n ${2:-} && -r $2 ]]; then
        printf -- '--- last lines of %s ---\n' "$2" >&2
        tail -n 40 "$2" >&2 || true
        printf -- '---\n' >&2
    fi
    return 1
}

# Run a command as root (directly when we are root, otherwise with sudo).
_svc_root() {
    if ((EUID == 0)); then
        "$@"
    else
        sudo "$@"
    fi
}

_svc_log_init() {
    if [[ ! -e $MAGNUM_SETUP_LOG ]]; then
        _svc_root touch "$MAGNUM_SETUP_LOG" || return 1
        _svc_root chmod 0644 "$MAGNUM_SETUP_LOG" || return 1
        if ((EUID != 0)); then
            _svc_root chown "$(id -u)" "$MAGNUM_SETUP_LOG" || return 1
        fi
    fi
}

# _svc_wait SECONDS COMMAND...: retry COMMAND once a second until it succeeds.
_svc_wait() {
    local deadline=$((SECONDS + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 1
    done
}

# apt-get update runs at most once per boot: the marker holds the boot id.
_svc_apt_update() {
    local marker=/run/magnum-apt-updated boot_id
    boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
    if [[ -r $marker && $(<"$marker") == "$boot_id" ]]; then
        return 0
    fi
    _svc_log_init || return 1
    _svc_say "apt-get update (log: $MAGNUM_SETUP_LOG)"
    if ! _svc_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
        >>"$MAGNUM_SETUP_LOG" 2>&1; then
        _svc_fail "apt-get update failed" "$MAGNUM_SETUP_LOG"
        return 1
    fi
    printf '%s\n' "$boot_id" | _svc_root tee "$marker" >/dev/null
}

# _svc_apt_install PACKAGE...: install packages quietly. Packages' own attempts
# to start their services (invoke-rc.d in postinst) are refused through a
# temporary policy-rc.d; the ensure_* functions start the services themselves.
_svc_apt_install() {
    _svc_apt_update || return 1
    _svc_say "installing $* (log: $MAGNUM_SETUP_LOG)"
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# added by magnum scripts/lib/services.sh\nexit 101\n' |
            _svc_root tee "$policy" >/dev/null || return 1
        _svc_root chmod 0755 "$policy" || return 1
        made_policy=1
    fi
    _svc_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q -o Dpkg::Options::=--force-confold "$@" \
        >>"$MAGNUM_SETUP_LOG" 2>&1 || rc=$?
    if ((made_policy)); then
        _svc_root rm -f "$policy"
    fi
    if ((rc != 0)); then
        _svc_fail "apt-get install $* failed (exit $rc)" "$MAGNUM_SETUP_LOG"
        return 1
    fi
}

# _svc_python: prints a Python 3 that has venv (Debian 12's python3 is 3.11),
# installing python3-venv when it is missing. Used by keystone.sh and clients.sh.
_svc_python() {
    local py
    for py in python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            echo "$py"
            return 0
        fi
    done
    _svc_apt_install python3 python3-venv >&2 || return 1
    if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo python3
        return 0
    fi
    return 1
}

# --------------------------------------------------------------------------
# PostgreSQL

_svc_pg_psql() {
    # Run psql as the postgres superuser over the local socket (peer auth).
    (cd / && _svc_root runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@")
}

_svc_pg_magnum_ok() {
    PGPASSWORD=magnum PGCONNECT_TIMEOUT=5 psql -X -q -tA \
        -h 127.0.0.1 -p 5432 -U magnum -d magnum -c 'select 1' >/dev/null 2>&1
}

ensure_postgres() {
    _svc_log_init || return 1

    if ! command -v pg_lsclusters >/dev/null 2>&1 ||
        ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
        _svc_apt_install postgresql || return 1
    fi

    # Pick the cluster on port 5432; create one when there is none at all.
    local line version name status
    line=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 { print; exit }')
    if [[ -z $line ]]; then
        if [[ -n $(pg_lsclusters -h 2>/dev/null) ]]; then
            _svc_fail "a PostgreSQL cluster exists but none listens on port 5432: $(pg_lsclusters -h | tr '\n' ';')"
            return 1
        fi
        version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -n 1)
        _svc_say "creating PostgreSQL $version cluster 'main'"
        _svc_root pg_createcluster "$version" main --port 5432 >>"$MAGNUM_SETUP_LOG" 2>&1 ||
            { _svc_fail "pg_createcluster failed" "$MAGNUM_SETUP_LOG"; return 1; }
        line=$(pg_lsclusters -h | awk '$3 == 5432 { print; exit }')
    fi
    read -r version name _ status _ <<<"$line"

    if [[ $status != online* ]]; then
        _svc_say "starting PostgreSQL $version/$name"
        if ! _svc_root pg_ctlcluster "$version" "$name" start >>"$MAGNUM_SETUP_LOG" 2>&1; then
            _svc_fail "pg_ctlcluster $version $name start failed" \
                "/var/log/postgresql/postgresql-$version-$name.log"
            return 1
        fi
    fi
    if ! _svc_wait 30 pg_isready -q -h 127.0.0.1 -p 5432; then
        _svc_fail "PostgreSQL did not become ready on 127.0.0.1:5432" \
            "/var/log/postgresql/postgresql-$version-$name.log"
        return 1
    fi

    # Fast path: the role, its password and the database are already there.
    if _svc_pg_magnum_ok; then
        _svc_say "PostgreSQL $version ready: $MAGNUM_DB_URL"
        return 0
    fi

    _svc_say "creating PostgreSQL role and database 'magnum'"
    _svc_pg_psql >>"$MAGNUM_SETUP_LOG" 2>&1 <<'SQL' || { _svc_fail "creating role magnum failed" "$MAGNUM_SETUP_LOG"; return 1; }
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'magnum') THEN
        CREATE ROLE magnum LOGIN CREATEDB PASSWORD 'magnum';
    ELSE
        ALTER ROLE magnum LOGIN CREATEDB PASSWORD 'magnum';
    END IF;
END
$$;
SQL
    if [[ $(_svc_pg_psql -tA -c "SELECT 1 FROM pg_database WHERE datname = 'magnum'") != 1 ]]; then
        _svc_pg_psql -c 'CREATE DATABASE magnum OWNER magnum' >>"$MAGNUM_SETUP_LOG" 2>&1 ||
            { _svc_fail "CREATE DATABASE magnum failed" "$MAGNUM_SETUP_LOG"; return 1; }
    fi

    # Debian's pg_hba.conf allows password (scram) logins from 127.0.0.1; add
    # such a line in front when a changed configuration does not.
    if ! _svc_pg_magnum_ok; then
        local hba
        hba=$(_svc_pg_psql -tA -c 'SHOW hba_file') || return 1
        if ! _svc_root grep -qE '^host[[:space:]]+all[[:space:]]+magnum[[:space:]]+127\.0\.0\.1/32' "$hba"; then
            _svc_say "allowing password logins for 'magnum' from 127.0.0.1 in $hba"
            _svc_root sed -i '1i host all magnum 127.0.0.1/32 scram-sha-256' "$hba" || return 1
            _svc_pg_psql -c 'SELECT pg_reload_conf()' >/dev/null || return 1
        fi
    fi
    if ! _svc_pg_magnum_ok; then
        _svc_fail "cannot log in as magnum at 127.0.0.1:5432 (check pg_hba.conf)" \
            "/var/log/postgresql/postgresql-$version-$name.log"
        return 1
    fi
    _svc_say "PostgreSQL $version ready: $MAGNUM_DB_URL"
}

# --------------------------------------------------------------------------
# RabbitMQ

# RabbitMQ's node name is rabbit@<short hostname>; that name must resolve.
_svc_ensure_hostname() {
    local full short n
    full=$(uname -n)
    short=${full%%.*}
    for n in "$short" "$full"; do
        if ! getent hosts "$n" >/dev/null 2>&1; then
            _svc_say "adding '$n' to /etc/hosts (RabbitMQ needs a resolvable hostname)"
            printf '127.0.0.1 %s\n' "$n" | _svc_root tee -a /etc/hosts >/dev/null || return 1
        fi
    done
}

_svc_rabbit_ping() {
    _svc_root timeout 20 rabbitmq-diagnostics -q ping --timeout 10 >/dev/null 2>&1
}

_svc_rabbitmqctl() {
    _svc_root timeout 60 rabbitmqctl "$@"
}

# True when user magnum exists with full permissions on both vhosts and
# password magnum.
_svc_rabbit_configured() {
    local perms
    perms=$(_svc_rabbitmqctl -s list_user_permissions magnum 2>/dev/null) || return 1
    grep -qxF $'magnum\t.*\t.*\t.*' <<<"$perms" || return 1
    grep -qxF $'magnum-test\t.*\t.*\t.*' <<<"$perms" || return 1
    _svc_rabbitmqctl -q authenticate_user magnum magnum >/dev/null 2>&1
}

ensure_rabbitmq() {
    _svc_log_init || return 1
    _svc_ensure_hostname || return 1

    if ! command -v rabbitmq-server >/dev/null 2>&1 &&
        ! [[ -x /usr/sbin/rabbitmq-server ]]; then
        _svc_apt_install rabbitmq-server || return 1
    fi

    # Fast path: the node runs and already has our user and vhosts.
    if _svc_rabbit_configured; then
        _svc_say "RabbitMQ ready: $MAGNUM_TRANSPORT_URL (tests: $MAGNUM_TEST_AMQP_URL)"
        return 0
    fi

    if ! _svc_rabbit_ping; then
        _svc_say "starting RabbitMQ"
        # -detached returns at once; the node boots in the background.
        _svc_root rabbitmq-server -detached >>"$MAGNUM_SETUP_LOG" 2>&1 || true
        if ! _svc_wait 90 _svc_rabbit_ping; then
            local log
            log=/var/log/rabbitmq/rabbit@$(uname -n | cut -d. -f1).log
            [[ -r $log ]] || log=$MAGNUM_SETUP_LOG
            _svc_fail "RabbitMQ did not start" "$log"
            return 1
        fi
    fi
    if ! _svc_rabbitmqctl -q await_startup --timeout 60 >>"$MAGNUM_SETUP_LOG" 2>&1; then
        _svc_fail "rabbitmqctl await_startup failed" "$MAGNUM_SETUP_LOG"
        return 1
    fi

    if ! _svc_rabbit_configured; then
        _svc_say "creating RabbitMQ user 'magnum' and vhosts 'magnum', 'magnum-test'"
        local vhosts users v
        vhosts=$(_svc_rabbitmqctl -s list_vhosts name) || return 1
        for v in magnum magnum-test; do
            if ! grep -qxF "$v" <<<"$vhosts"; then
                _svc_rabbitmqctl -q add_vhost "$v" >>"$MAGNUM_SETUP_LOG" 2>&1 ||
                    { _svc_fail "add_vhost $v failed" "$MAGNUM_SETUP_LOG"; return 1; }
            fi
        done
        users=$(_svc_rabbitmqctl -s list_users) || return 1
        if cut -f1 <<<"$users" | grep -qxF magnum; then
            _svc_rabbitmqctl -q change_password magnum magnum >>"$MAGNUM_SETUP_LOG" 2>&1
        else
            _svc_rabbitmqctl -q add_user magnum magnum >>"$MAGNUM_SETUP_LOG" 2>&1
        fi || { _svc_fail "creating RabbitMQ user magnum failed" "$MAGNUM_SETUP_LOG"; return 1; }
        for v in magnum magnum-test; do
            _svc_rabbitmqctl -q set_permissions -p "$v" magnum '.*' '.*' '.*' >>"$MAGNUM_SETUP_LOG" 2>&1 ||
                { _svc_fail "set_permissions on $v failed" "$MAGNUM_SETUP_LOG"; return 1; }
        done
    fi
    _svc_say "RabbitMQ ready: $MAGNUM_TRANSPORT_URL (tests: $MAGNUM_TEST_AMQP_URL)"
}

# --------------------------------------------------------------------------
# Docker Engine

_svc_docker_ok() {
    _svc_root timeout 15 docker -H "unix://$1" info >/dev/null 2>&1
}

_svc_ensure_docker_packages() {
    local missing=()
    if ! command -v dockerd >/dev/null 2>&1 && ! [[ -x /usr/sbin/dockerd ]]; then
        missing+=(docker.io)
    fi
    if ! command -v docker >/dev/null 2>&1; then
        missing+=(docker.io)
    fi
    # The busybox-static binary is the test image's whole root file system.
    if ! [[ -x /bin/busybox ]] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
        missing+=(busybox-static)
    fi
    if ((${#missing[@]})); then
        # shellcheck disable=SC2046 # word splitting of the unique list is intended
        _svc_apt_install $(printf '%s\n' "${missing[@]}" | sort -u) || return 1
    fi
}

# _svc_start_dockerd NAME SOCKET LOG PIDFILE [EXTRA DOCKERD ARGS...]
_svc_start_dockerd() {
    local name=$1 sock=$2 log=$3 pidfile=$4
    shift 4
    if _svc_docker_ok "$sock"; then
        _svc_say "$name ready: unix://$sock"
        return 0
    fi
    local pid=""
    if [[ -r $pidfile ]]; then
        pid=$(<"$pidfile")
    fi
    if [[ $pid =~ ^[0-9]+$ ]] && _svc_root kill -0 "$pid" 2>/dev/null &&
        grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null; then
        _svc_say "waiting for $name (pid $pid)"
    else
        _svc_say "starting $name (log: $log)"
        # A new session, so that the daemon outlives this shell and its
        # terminal's signals; the inner shell reports the daemon's pid.
        # shellcheck disable=SC2016 # expanded by the inner shell
        pid=$(_svc_root setsid bash -c 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!' \
            _ "$log" dockerd \
            --host "unix://$sock" \
            --pidfile "$pidfile" \
            --bridge=none --iptables=false --ip-masq=false \
            "$@") || { _svc_fail "could not launch dockerd" "$log"; return 1; }
    fi
    local deadline=$((SECONDS + 60))
    until _svc_docker_ok "$sock"; do
        if ! _svc_root kill -0 "$pid" 2>/dev/null; then
            _svc_fail "$name (pid $pid) exited during start-up" "$log"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            _svc_fail "$name did not answer on unix://$sock within 60 s" "$log"
            return 1
        fi
        sleep 1
    done
    _svc_say "$name ready: unix://$sock"
}

ensure_dockerd() {
    _svc_log_init || return 1
    _svc_ensure_docker_packages || return 1
    _svc_root touch /var/log/magnum-dockerd.log || return 1
    _svc_start_dockerd "Docker Engine" "$MAGNUM_DOCKER_SOCK" \
        /var/log/magnum-dockerd.log /var/run/docker.pid || return 1
    export MAGNUM_TEST_DOCKER_HOST=unix://$MAGNUM_DOCKER_SOCK
}

# A second, independent Engine on the same machine, for two-host pools.
ensure_second_dockerd() {
    _svc_log_init || return 1
    _svc_ensure_docker_packages || return 1
    _svc_root touch /var/log/magnum-dockerd2.log || return 1
    _svc_root mkdir -p /var/lib/magnum-docker2 /var/run/magnum-docker2 || return 1
    _svc_start_dockerd "second Docker Engine" "$MAGNUM_DOCKER2_SOCK" \
        /var/log/magnum-dockerd2.log /var/run/magnum-docker2.pid \
        --data-root /var/lib/magnum-docker2 \
        --exec-root /var/run/magnum-docker2 \
        --containerd-namespace magnum-docker2 \
        --containerd-plugins-namespace magnum-docker2-plugins || return 1
    export MAGNUM_TEST_DOCKER_HOST2=unix://$MAGNUM_DOCKER2_SOCK
}

# ensure_test_image [DOCKER_HOST]: import magnum-test/busybox:latest (a busybox
# rootfs, no registry needed) into the Engine at DOCKER_HOST (default: the main
# one). The image's default command is /bin/sh; tests should pass their own.
ensure_test_image() {
    local host=${1:-unix://$MAGNUM_DOCKER_SOCK}
    if _svc_root docker -H "$host" image inspect "$MAGNUM_TEST_IMAGE" >/dev/null 2>&1; then
        _svc_say "image $MAGNUM_TEST_IMAGE present on $host"
        return 0
    fi
    _svc_ensure_docker_packages || return 1
    _svc_say "building image $MAGNUM_TEST_IMAGE on $host"
    local dir rc=0
    dir=$(mktemp -d "${TMPDIR:-/tmp}/magnum-busybox.XXXXXX") || return 1
    local root=$dir/rootfs
    {
        mkdir -p "$root"/{bin,etc,tmp,root,proc,sys,dev} &&
            chmod 1777 "$root/tmp" &&
            cp /bin/busybox "$root/bin/busybox" &&
            # Inside a chroot /proc/self/exe does not resolve, so busybox links
            # its applets to argv[0] (/bin/busybox), not to a host path.
            _svc_root chroot "$root" /bin/busybox --install -s /bin &&
            printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd" &&
            printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group" &&
            tar -C "$root" -cf "$dir/rootfs.tar" .
    } >>"$MAGNUM_SETUP_LOG" 2>&1 || rc=$?
    if ((rc == 0)); then
        _svc_root docker -H "$host" import \
            --change 'CMD ["/bin/sh"]' \
            --message 'magnum-rs test image (busybox-static rootfs)' \
            "$dir/rootfs.tar" "$MAGNUM_TEST_IMAGE" >>"$MAGNUM_SETUP_LOG" 2>&1 || rc=$?
    fi
    rm -rf "$dir"
    if ((rc != 0)); then
        _svc_fail "building $MAGNUM_TEST_IMAGE failed" "$MAGNUM_SETUP_LOG"
        return 1
    fi
}
