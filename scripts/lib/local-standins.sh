# shellcheck shell=bash
# Sourced by the scripts that run on the local stand-ins: installs the pinned tools, builds the
# workspace, starts the stand-ins on 127.0.0.1 (stopped by PID when the script exits, also on
# failure) and loads their endpoints into the environment.
scripts/install-standins.sh
echo "==> Building (the first build on a fresh machine takes a few minutes)"
cargo build --workspace --locked --quiet
scripts/standins.sh start
trap 'scripts/standins.sh stop' EXIT
# shellcheck disable=SC1091
source .tools/run/env
