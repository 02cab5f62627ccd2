#!/usr/bin/env bash
# The whole Tenantry system on this machine, on 127.0.0.1 only (no AWS account): the stand-ins
# (moto, dynalite, a local Lambda Invoke API) and local EMULATIONS of API Gateway REST, AgentCore
# Runtime, Gateway and Memory, Knowledge Base, Guardrails and a model stand-in, driving the real
# binaries (tenant-authorizer, request-proxy, tool-target, token-vending, agent-runtime per tier).
# Usage: scripts/devstack.sh up|down|status|token|chat [options]
#   up                      install what is missing, build, start everything, print the URLs
#   down                    stop everything `up` started, by PID (and the stand-ins)
#   status                  whether each part answers
#   token --clinic ID       a fresh ID token of that clinic's demo user (for curl, cargo lambda invoke)
#   chat --clinic ID        talk to that clinic's assistant through the API, as its demo user
#   fill --clinic ID FILE   a copy of a committed event with ${ID_TOKEN} filled in; prints its path
set -euo pipefail
cd "$(dirname "$0")/.."
run="$PWD/.tools/run"
pidfile="$run/devstack.pid"
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

running() { # true when the PID file names a live devstack process
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(cat "$pidfile")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -- "devstack up" > /dev/null
}

started_alive() { # true while the process just started has not exited (a zombie counts as exited)
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2> /dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z ]]
}

stop_pidfile() { # stops the process group (or process) a PID file names
  local f=$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if [[ -r /proc/$pid/cmdline ]]; then
    kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null || true
  fi
  rm -f "$f"
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
  up)
    if running; then
      echo "==> The devstack is already running (pid $(cat "$pidfile"))"
      exec target/debug/devstack status
    fi
    scripts/install-standins.sh
    echo "==> Building (the first build on a fresh machine takes a few minutes)"
    cargo build --workspace --locked --quiet
    scripts/standins.sh start
    # shellcheck disable=SC1091
    source "$run/env"
    mkdir -p "$run"
    rm -f "$run/devstack.json"
    echo "==> Starting the devstack (log: .tools/run/devstack.log)"
    # Its own session: a Ctrl-C in this terminal later does not stop it; `down` does.
    setsid nohup target/debug/devstack up "$@" > "$run/devstack.log" 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 1 900); do
      [[ -f $run/devstack.json ]] && break
      # Not `running`: until the background shell has exec'd the binary its command line is
      # this script's, which a busy machine shows for a while (it failed CI once).
      if ! started_alive "$(cat "$pidfile")"; then
        echo "error: the devstack stopped during start-up; its log:" >&2
        tail -n 30 "$run/devstack.log" >&2
        rm -f "$pidfile"
        exit 1
      fi
      sleep 0.2
    done
    [[ -f $run/devstack.json ]] || { echo "error: not ready within 180 s; see .tools/run/devstack.log" >&2; exit 1; }
    sed -n '1,/^    token:/p' "$run/devstack.log"
    echo "==> Stop it with: scripts/devstack.sh down"
    ;;
  down)
    if running; then
      pid=$(cat "$pidfile")
      echo "==> Stopping the devstack (pid $pid)"
      kill -TERM "$pid"
      for _ in $(seq 1 100); do [[ -r /proc/$pid/cmdline ]] || break; sleep 0.1; done
      if [[ -r /proc/$pid/cmdline ]]; then
        echo "    still running after 10 s: killing its process group"
        kill -KILL -- "-$pid" 2> /dev/null || kill -KILL "$pid" 2> /dev/null || true
      fi
    else
      echo "==> The devstack is not running"
    fi
    rm -f "$pidfile" "$run/devstack.json"
    # Whatever a killed devstack left behind, by the PID files its parts wrote.
    for f in "$run"/agent-runtime-*.pid; do stop_pidfile "$f"; done
    scripts/standins.sh stop
    ;;
  status)
    [[ -x target/debug/devstack ]] || { echo "not built: scripts/devstack.sh up" >&2; exit 1; }
    exec target/debug/devstack status "$@"
    ;;
  token | chat | fill)
    [[ -x target/debug/devstack ]] || { echo "not built: scripts/devstack.sh up" >&2; exit 1; }
    exec target/debug/devstack "$cmd" "$@"
    ;;
  -h | --help | help)
    usage
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
