# shellcheck shell=bash
# DevStack plugin of magnum-rs: stack.sh, unstack.sh and clean.sh source this
# file with the phase as arguments ("stack install", "stack post-config",
# "stack extra", "unstack", "clean").

# shellcheck source=devstack/lib/magnum
source "$(dirname "${BASH_SOURCE[0]}")/lib/magnum"

if is_service_enabled magnum-api magnum-cond; then
    if [[ $1 == stack && $2 == install ]]; then
        echo_summary "Installing magnum-rs"
        install_magnum
    elif [[ $1 == stack && $2 == post-config ]]; then
        echo_summary "Configuring magnum-rs"
        configure_magnum
        if is_service_enabled key; then
            create_magnum_accounts
        fi
    elif [[ $1 == stack && $2 == extra ]]; then
        echo_summary "Initializing and starting magnum-rs"
        init_magnum
        start_magnum
    fi

    if [[ $1 == unstack ]]; then
        stop_magnum
    fi

    if [[ $1 == clean ]]; then
        cleanup_magnum
    fi
fi
