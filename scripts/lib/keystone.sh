# shellcheck shell=bash
#
# A real Keystone for the tests: installed from PyPI into a virtualenv, run
# with gunicorn on 127.0.0.1 on a throwaway sqlite database, bootstrapped, and
# filled with what magnum-api and the tests need.
#
#   source scripts/lib/keystone.sh
#   ensure_keystone
#
# exports
#   MAGNUM_TEST_KEYSTONE_URL            http://127.0.0.1:5000 (tokens live 1 hour)
#   MAGNUM_TEST_KEYSTONE_SHORT_URL      http://127.0.0.1:5001, the same Keystone (database,
#                                       keys) issuing tokens that expire after
#   MAGNUM_TEST_KEYSTONE_SHORT_TTL      seconds (for the expired-token tests)
#   MAGNUM_TEST_KEYSTONE_ADMIN_PASSWORD password of user admin (project admin, role admin)
#   MAGNUM_TEST_KEYSTONE_SERVICE_PASSWORD password of user magnum (project service, role admin)
#   MAGNUM_TEST_KEYSTONE_USER_PASSWORD  password of the tenant users:
#                                       magnum-alice (project magnum-tenant-a, role member),
#                                       magnum-bob   (project magnum-tenant-b, role member)
#   MAGNUM_KEYSTONE_VENV                the virtualenv (keystone-manage, gunicorn)
#
# The service `magnum` of type container-infra has public, internal and admin
# endpoints http://127.0.0.1:9511/v1 in RegionOne.
#
# Idempotent: the virtualenv is built once (pip's cache is kept beside it); a
# Keystone that already answers is reused and only the registration (quick) is
# redone. A Keystone that is not running is set up from scratch: new database,
# new keys. Returns non-zero, after printing the tail of the log, on failure.

if [[ -n ${_MAGNUM_KEYSTONE_SH:-} ]]; then
    return 0
fi
_MAGNUM_KEYSTONE_SH=1

# _svc_python and the apt helpers.
# shellcheck source=scripts/lib/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"

_MAGNUM_KS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

KEYSTONE_VERSION=30.0.0
GUNICORN_VERSION=27.0.1
if ((EUID == 0)); then
    : "${MAGNUM_KEYSTONE_HOME:=/var/lib/magnum-test/keystone}"
else
    : "${MAGNUM_KEYSTONE_HOME:=$(cd "$_MAGNUM_KS_LIB_DIR/../.." && pwd)/target/keystone}"
fi
: "${MAGNUM_KEYSTONE_PORT:=5000}"
: "${MAGNUM_KEYSTONE_SHORT_PORT:=5001}"
export MAGNUM_KEYSTONE_VENV=$MAGNUM_KEYSTONE_HOME/venv
export MAGNUM_TEST_KEYSTONE_URL=http://127.0.0.1:$MAGNUM_KEYSTONE_PORT
export MAGNUM_TEST_KEYSTONE_SHORT_URL=http://127.0.0.1:$MAGNUM_KEYSTONE_SHORT_PORT
export MAGNUM_TEST_KEYSTONE_SHORT_TTL=6
# Test-only secrets of a Keystone that listens on 127.0.0.1 and is rebuilt on each start.
export MAGNUM_TEST_KEYSTONE_ADMIN_PASSWORD=magnum-test-admin
export MAGNUM_TEST_KEYSTONE_SERVICE_PASSWORD=magnum-test-service
export MAGNUM_TEST_KEYSTONE_USER_PASSWORD=magnum-test-user

_ks_say() { printf '==> %s\n' "$*"; }

_ks_fail() {
    printf '==> ERROR: %s\n' "$1" >&2
    if [[ -n ${2:-} && -r $2 ]]; then
        printf -- '--- last lines of %s ---\n' "$2" >&2
        tail -n 40 "$2" >&2 || true
        printf -- '---\n' >&2
    fi
    return 1
}

# _ks_answers URL: whether a Keystone answers there (the venv's Python: no curl needed).
_ks_answers() {
    "$MAGNUM_KEYSTONE_VENV/bin/python" -c \
        'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/v3", timeout=5)' \
        "$1" >/dev/null 2>&1
}

_ks_ensure_venv() {
    local marker=$MAGNUM_KEYSTONE_VENV/.magnum-installed
    local packages=("keystone==$KEYSTONE_VERSION" "gunicorn==$GUNICORN_VERSION")
    local want="${packages[*]}"
    if [[ -r $marker && $(<"$marker") == "$want" && -x $MAGNUM_KEYSTONE_VENV/bin/keystone-manage ]]; then
        return 0
    fi
    local py log=$MAGNUM_KEYSTONE_HOME/install.log
    mkdir -p "$MAGNUM_KEYSTONE_HOME" || return 1
    py=$(_svc_python) || { _ks_fail "no Python 3 with venv for Keystone"; return 1; }
    _ks_say "installing Keystone $KEYSTONE_VERSION into $MAGNUM_KEYSTONE_VENV (log: $log)"
    {
        "$py" -m venv "$MAGNUM_KEYSTONE_VENV" &&
            PIP_CACHE_DIR=$MAGNUM_KEYSTONE_HOME/pip-cache "$MAGNUM_KEYSTONE_VENV/bin/pip" install \
                --disable-pip-version-check -q "${packages[@]}"
    } >"$log" 2>&1 || { _ks_fail "pip install $want failed" "$log"; return 1; }
    printf '%s\n' "$want" >"$marker"
}

# _ks_write_config DIR EXPIRATION: keystone.conf for one instance (same database and keys).
_ks_write_config() {
    local dir=$1 expiration=$2 home=$MAGNUM_KEYSTONE_HOME
    mkdir -p "$dir" || return 1
    cat >"$dir/keystone.conf" <<EOF
[DEFAULT]
log_file = $dir/keystone.log
[database]
connection = sqlite:///$home/keystone.db
[token]
provider = fernet
expiration = $expiration
[fernet_tokens]
key_repository = $home/fernet-keys
[fernet_receipts]
key_repository = $home/fernet-keys
[credential]
key_repository = $home/credential-keys
EOF
}

# _ks_start NAME PORT: run gunicorn for the instance in $HOME/NAME. gunicorn takes no
# command-line arguments: Keystone parses sys.argv with oslo.config when the app loads.
_ks_start() {
    local dir=$MAGNUM_KEYSTONE_HOME/$1 port=$2
    cat >"$dir/gunicorn.conf.py" <<EOF
wsgi_app = "keystone.wsgi.api:application"
bind = "127.0.0.1:$port"
workers = 1
threads = 4
timeout = 120
daemon = True
pidfile = "$dir/gunicorn.pid"
errorlog = "$dir/gunicorn.log"
raw_env = ["OS_KEYSTONE_CONFIG_FILES=$dir/keystone.conf"]
EOF
    (cd "$dir" && OS_KEYSTONE_CONFIG_FILES=$dir/keystone.conf "$MAGNUM_KEYSTONE_VENV/bin/gunicorn") \
        >>"$dir/gunicorn.log" 2>&1 || { _ks_fail "gunicorn for $1 did not start" "$dir/gunicorn.log"; return 1; }
    local deadline=$((SECONDS + 90))
    until _ks_answers "http://127.0.0.1:$port"; do
        if ((SECONDS >= deadline)); then
            _ks_fail "Keystone ($1) does not answer on 127.0.0.1:$port" "$dir/gunicorn.log"
            return 1
        fi
        sleep 1
    done
}

# _ks_stop NAME: stop the instance's gunicorn (the pid its pidfile names).
_ks_stop() {
    local pidfile=$MAGNUM_KEYSTONE_HOME/$1/gunicorn.pid pid
    [[ -r $pidfile ]] || return 0
    pid=$(<"$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$pidfile"
}

_ks_setup_fresh() {
    local home=$MAGNUM_KEYSTONE_HOME manage=$MAGNUM_KEYSTONE_VENV/bin/keystone-manage
    local conf=$home/main/keystone.conf log=$home/setup.log
    _ks_stop main
    _ks_stop short
    rm -rf "$home/keystone.db" "$home/fernet-keys" "$home/credential-keys" "$home/main" "$home/short"
    mkdir -p "$home/fernet-keys" "$home/credential-keys" || return 1
    _ks_write_config "$home/main" 3600 || return 1
    _ks_write_config "$home/short" "$MAGNUM_TEST_KEYSTONE_SHORT_TTL" || return 1
    _ks_say "setting up Keystone on $MAGNUM_TEST_KEYSTONE_URL (log: $log)"
    local user=root group=root
    {
        "$manage" --config-file "$conf" db_sync &&
            "$manage" --config-file "$conf" fernet_setup --keystone-user "$user" --keystone-group "$group" &&
            "$manage" --config-file "$conf" credential_setup --keystone-user "$user" --keystone-group "$group" &&
            "$manage" --config-file "$conf" bootstrap \
                --bootstrap-password "$MAGNUM_TEST_KEYSTONE_ADMIN_PASSWORD" \
                --bootstrap-admin-url "$MAGNUM_TEST_KEYSTONE_URL/v3" \
                --bootstrap-internal-url "$MAGNUM_TEST_KEYSTONE_URL/v3" \
                --bootstrap-public-url "$MAGNUM_TEST_KEYSTONE_URL/v3" \
                --bootstrap-region-id RegionOne
    } >"$log" 2>&1 || { _ks_fail "keystone-manage failed" "$log"; return 1; }
    _ks_start main "$MAGNUM_KEYSTONE_PORT" || return 1
    _ks_start short "$MAGNUM_KEYSTONE_SHORT_PORT" || return 1
}

# stop_keystone: stop both Keystone processes (the database is rebuilt on the next start).
stop_keystone() {
    _ks_stop main
    _ks_stop short
}

ensure_keystone() {
    _ks_ensure_venv || return 1
    if ! _ks_answers "$MAGNUM_TEST_KEYSTONE_URL" || ! _ks_answers "$MAGNUM_TEST_KEYSTONE_SHORT_URL"; then
        _ks_setup_fresh || return 1
    fi
    local log=$MAGNUM_KEYSTONE_HOME/register.log
    "$MAGNUM_KEYSTONE_VENV/bin/python" "$_MAGNUM_KS_LIB_DIR/keystone_register.py" \
        --auth-url "$MAGNUM_TEST_KEYSTONE_URL" \
        --admin-password "$MAGNUM_TEST_KEYSTONE_ADMIN_PASSWORD" \
        --service-password "$MAGNUM_TEST_KEYSTONE_SERVICE_PASSWORD" \
        --endpoint http://127.0.0.1:9511/v1 --region RegionOne \
        --tenant "magnum-tenant-a:magnum-alice:$MAGNUM_TEST_KEYSTONE_USER_PASSWORD" \
        --tenant "magnum-tenant-b:magnum-bob:$MAGNUM_TEST_KEYSTONE_USER_PASSWORD" \
        >"$log" 2>&1 || { _ks_fail "registering Magnum in Keystone failed" "$log"; return 1; }
    _ks_say "Keystone ready on $MAGNUM_TEST_KEYSTONE_URL (short-lived tokens: $MAGNUM_TEST_KEYSTONE_SHORT_URL)"
}
