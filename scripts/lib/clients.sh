# shellcheck shell=bash
#
# The OpenStack clients the end-to-end client tests (tests/e2e/clients.rs) drive, each
# generation in its own virtualenv from PyPI:
#
#   source scripts/lib/clients.sh
#   ensure_clients
#
# exports
#   MAGNUM_TEST_CLIENTS_V5  virtualenv with python-magnumclient 5.0.0, python-openstackclient
#                           (`openstack coe …`) and openstacksdk
#   MAGNUM_TEST_CLIENTS_V4  virtualenv with python-magnumclient 4.11.0 (the `magnum` shell,
#                           its last release)
#
# Idempotent: each virtualenv is built once and marked with what it holds (pip's cache is kept
# beside them), so a second call checks two files and returns. Returns non-zero, after
# printing the tail of the install log, when a client cannot be installed.

if [[ -n ${_MAGNUM_CLIENTS_SH:-} ]]; then
    return 0
fi
_MAGNUM_CLIENTS_SH=1

# _svc_python and the apt helpers.
# shellcheck source=scripts/lib/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"

_MAGNUM_CL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

MAGNUM_CLIENTS_V5_PACKAGES=(
    "python-magnumclient==5.0.0"
    "python-openstackclient==10.5.0"
    "openstacksdk==4.22.0"
)
MAGNUM_CLIENTS_V4_PACKAGES=("python-magnumclient==4.11.0")

if ((EUID == 0)); then
    : "${MAGNUM_CLIENTS_HOME:=/var/lib/magnum-test/clients}"
else
    : "${MAGNUM_CLIENTS_HOME:=$(cd "$_MAGNUM_CL_LIB_DIR/../.." && pwd)/target/clients}"
fi
export MAGNUM_TEST_CLIENTS_V5=$MAGNUM_CLIENTS_HOME/v5
export MAGNUM_TEST_CLIENTS_V4=$MAGNUM_CLIENTS_HOME/v4

_cl_say() { printf '==> %s\n' "$*"; }

_cl_fail() {
    printf '==> ERROR: %s\n' "$1" >&2
    if [[ -n ${2:-} && -r $2 ]]; then
        printf -- '--- last lines of %s ---\n' "$2" >&2
        tail -n 40 "$2" >&2 || true
        printf -- '---\n' >&2
    fi
    return 1
}

# _cl_ensure_venv DIR COMMAND PACKAGE…: a virtualenv in DIR holding the packages, with
# bin/COMMAND runnable.
_cl_ensure_venv() {
    local venv=$1 command=$2
    shift 2
    local marker=$venv/.magnum-installed want="$*"
    if [[ -r $marker && $(<"$marker") == "$want" && -x $venv/bin/$command ]]; then
        return 0
    fi
    local py log=$venv.install.log
    mkdir -p "$MAGNUM_CLIENTS_HOME" || return 1
    py=$(_svc_python) || { _cl_fail "no Python 3 with venv for the clients"; return 1; }
    _cl_say "installing $want into $venv (log: $log)"
    rm -rf "$venv"
    {
        "$py" -m venv "$venv" &&
            PIP_CACHE_DIR=$MAGNUM_CLIENTS_HOME/pip-cache "$venv/bin/pip" install \
                --disable-pip-version-check -q "$@" &&
            "$venv/bin/$command" --version
    } >"$log" 2>&1 || { _cl_fail "pip install $want failed" "$log"; return 1; }
    printf '%s\n' "$want" >"$marker"
}

ensure_clients() {
    _cl_ensure_venv "$MAGNUM_TEST_CLIENTS_V5" openstack "${MAGNUM_CLIENTS_V5_PACKAGES[@]}" || return 1
    _cl_ensure_venv "$MAGNUM_TEST_CLIENTS_V4" magnum "${MAGNUM_CLIENTS_V4_PACKAGES[@]}" || return 1
    _cl_say "clients ready: $MAGNUM_TEST_CLIENTS_V5/bin/openstack, $MAGNUM_TEST_CLIENTS_V4/bin/magnum"
}
