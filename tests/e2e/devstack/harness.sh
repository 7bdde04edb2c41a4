#!/usr/bin/env bash
# Runs phases of the DevStack plugin in devstack/ the way stack.sh, unstack.sh
# and clean.sh do (settings sourced once, then plugin.sh sourced per phase in
# the same shell), with DevStack's helper functions replaced by small shims
# that record each call in $WORK/calls.log. iniset writes real INI files.
#
#   harness.sh WORK PHASE...     PHASE: stack:install stack:post-config
#                                       stack:extra unstack clean
#
# Environment: HARNESS_SERVICES overrides ENABLED_SERVICES; HARNESS_NO_CARGO=1
# hides cargo; HARNESS_DB_SERVER is the server database_connection_url names.
# The plugin's own variables (MAGNUM_*) pass through, as from local.conf. Used by tests/e2e/devstack.rs.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
WORK=$1
shift
mkdir -p "$WORK"
CALLS=$WORK/calls.log
: >"$CALLS"

record() {
    local IFS=' '
    printf '%s\n' "$*" >>"$CALLS"
}

# DevStack's globals, as stack.sh sets them.
DEST=$WORK/opt/stack
DATA_DIR=$WORK/opt/stack/data
STACK_USER=$(id -un)
SERVICE_HOST=127.0.0.1
SERVICE_PROTOCOL=http
SERVICE_TIMEOUT=60
REGION_NAME=RegionOne
SERVICE_PASSWORD="service-secret"
SERVICE_PROJECT_NAME=service
SERVICE_DOMAIN_NAME=Default
KEYSTONE_SERVICE_URI=http://127.0.0.1/identity
ENABLE_DEBUG_LOG_LEVEL=True
RABBIT_USERID=stackrabbit
RABBIT_PASSWORD="rabbit-secret"
RABBIT_HOST=127.0.0.1
DATABASE_USER=root
DATABASE_PASSWORD="db-secret"
DATABASE_HOST=127.0.0.1
ENABLED_SERVICES=${HARNESS_SERVICES:-key,rabbit,postgresql,magnum-api,magnum-cond}
# Where this test puts what a real run puts under / (so it never touches them).
MAGNUM_CONF_DIR=$WORK/etc/magnum
MAGNUM_BIN_DIR=$WORK/usr/local/bin
MAGNUM_RS_DIR=$REPO
MAGNUM_RS_TARGET_DIR=$WORK/target
mkdir -p "$DEST" "$DATA_DIR"

# --- shims of DevStack's functions ---------------------------------------

echo_summary() { record echo_summary "$@"; }
die() {
    record die "$@"
    printf 'die: %s\n' "${*:2}" >&2
    exit 1
}
define_plugin() { record define_plugin "$@"; }
enable_service() {
    record enable_service "$@"
    local s
    for s in "$@"; do
        [[ ,$ENABLED_SERVICES, == *",$s,"* ]] || ENABLED_SERVICES+=",$s"
    done
}
is_service_enabled() {
    local s
    for s in "$@"; do
        [[ ,$ENABLED_SERVICES, == *",$s,"* ]] && return 0
    done
    return 1
}
# DevStack's iniset [-sudo] FILE SECTION OPTION VALUE: set one option,
# adding the section and the option when missing.
iniset() {
    [[ $1 == -sudo ]] && shift
    local file=$1 section=$2 option=$3 value=$4
    record iniset "$file" "$section" "$option" "$value"
    [[ -e $file ]] || : >"$file"
    local tmp=$file.tmp
    SECTION=$section OPTION=$option VALUE=$value awk '
        function flush() { if (insec && !done) { print ENVIRON["OPTION"] " = " ENVIRON["VALUE"]; done = 1 } }
        /^\[.*\][[:space:]]*$/ { flush(); insec = ($0 == "[" ENVIRON["SECTION"] "]"); print; next }
        insec && $0 ~ "^" ENVIRON["OPTION"] "[[:space:]]*=" { if (!done) { print ENVIRON["OPTION"] " = " ENVIRON["VALUE"]; done = 1 } next }
        { print }
        END { flush(); if (!done) { print "[" ENVIRON["SECTION"] "]"; print ENVIRON["OPTION"] " = " ENVIRON["VALUE"] } }
    ' "$file" >"$tmp"
    mv "$tmp" "$file"
}
# With HARNESS_DB_SERVER (postgresql://user:password@host:port), a real server.
database_connection_url() {
    local server=${HARNESS_DB_SERVER:-postgresql://$DATABASE_USER:$DATABASE_PASSWORD@$DATABASE_HOST}
    echo "$server/$1?client_encoding=utf8"
}
recreate_database() { record recreate_database "$@"; }
rpc_backend_add_vhost() { record rpc_backend_add_vhost "$@"; }
get_transport_url() {
    echo "rabbit://$RABBIT_USERID:$RABBIT_PASSWORD@$RABBIT_HOST:5672/${1:-}"
}
create_service_user() { record create_service_user "$@"; }
get_or_create_service() {
    record get_or_create_service "$@"
    echo "service-id-$1"
}
get_or_create_endpoint() {
    record get_or_create_endpoint "$@"
    echo "endpoint-id"
}
run_process() {
    is_service_enabled "$1" || return 0
    record run_process "$@"
}
stop_process() { record stop_process "$@"; }
wait_for_service() { record wait_for_service "$@"; }
# sudo runs the command as this user (the test needs no root).
sudo() {
    record sudo "$@"
    "$@"
}
# install -o USER works unprivileged only for oneself: STACK_USER is.

# cargo: record, and leave two stand-in binaries that record their own runs.
SHIM_BIN=$WORK/shim-bin
mkdir -p "$SHIM_BIN"
export HARNESS_CALLS=$CALLS
rm -f "$SHIM_BIN/cargo"
if [[ ${HARNESS_NO_CARGO:-0} != 1 ]]; then
    cat >"$SHIM_BIN/cargo" <<'EOF'
#!/usr/bin/env bash
printf 'cargo %s (in %s, CARGO_TARGET_DIR=%s)\n' "$*" "$PWD" "${CARGO_TARGET_DIR:-}" >>"$HARNESS_CALLS"
mkdir -p "$CARGO_TARGET_DIR/release"
for b in magnum-api magnum-conductor; do
    cat >"$CARGO_TARGET_DIR/release/$b" <<'BIN'
#!/usr/bin/env bash
printf '%s %s\n' "${0##*/}" "$*" >>"$HARNESS_CALLS"
BIN
    chmod +x "$CARGO_TARGET_DIR/release/$b"
done
EOF
    chmod +x "$SHIM_BIN/cargo"
fi
# Only the shims and the basic tools: the machine's own cargo stays out of reach.
PATH=$SHIM_BIN:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
hash -r

# --- the phases, as DevStack runs them -----------------------------------

# shellcheck source=devstack/settings
source "$REPO/devstack/settings"
for phase in "$@"; do
    record "--- phase $phase"
    # shellcheck disable=SC2086 # "stack:install" -> "stack install"
    set -- ${phase/:/ }
    # shellcheck source=devstack/plugin.sh
    source "$REPO/devstack/plugin.sh" "$@"
done
record "--- done"
