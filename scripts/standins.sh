#!/usr/bin/env bash
# Starts and stops the LOCAL STAND-INS for AWS services, on 127.0.0.1 only:
#   moto server  (Cognito, STS, SSM, S3, CloudWatch Logs, ...)  port $TENANTRY_MOTO_BACK_PORT (27150)
#   aws-front    moto's front: checks each API Gateway, SSM, Cognito and CloudWatch Logs request against AWS's
#                service model (botocore's) and refuses what AWS would; the URL every client uses
#                                                               port $TENANTRY_MOTO_PORT (27151)
#   dynalite     (DynamoDB, in memory)                          port $TENANTRY_DYNALITE_PORT (27152)
# The ports lie below Linux's ephemeral range (32768-60999), so no outgoing connection of any
# program can be holding one.
# Usage: scripts/standins.sh start|stop|status|env
#   start   starts them (installs nothing: run scripts/install-standins.sh first; builds the
#           front), waits until they answer, writes PID files and .tools/run/env (export lines)
#   stop    stops what `start` started, by PID
#   env     prints the export lines
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/.tools"
run="$tools/run"
moto_port=${TENANTRY_MOTO_PORT:-27151}
moto_back_port=${TENANTRY_MOTO_BACK_PORT:-27150}
dyn_port=${TENANTRY_DYNALITE_PORT:-27152}
# The services whose requests the front checks (their models: scripts/tools/aws-models.txt).
front_services=apigateway,ssm,cognito-idp,logs

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

bindable() { # true when 127.0.0.1:$1 can be bound now (nothing listens, nothing holds it)
  # With SO_REUSEADDR, as the servers bind: a port whose last connections linger in TIME_WAIT
  # (a stand-in just stopped) is free for them; a listener or a live connection holding the
  # port is not.
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

answers() { # true when something answers HTTP on 127.0.0.1:$1
  python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
except urllib.error.HTTPError:
    pass  # an HTTP error status still means the server is up
except Exception:
    sys.exit(1)
PY
}

ours() { # true when the PID file names a live process whose command line contains $2
  local pidfile=$1 pattern=$2 pid
  [[ -f $pidfile ]] || return 1
  pid=$(cat "$pidfile")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -- "$pattern" > /dev/null
}

running() { # pid: alive and not a zombie (an exited child not yet reaped)
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

start_one() { # name port pattern command...
  local name=$1 port=$2 pattern=$3; shift 3
  local pidfile="$run/$name.pid" log="$run/$name.log"
  if ours "$pidfile" "$pattern"; then
    if ours "$pidfile" "$pattern.* $port\b"; then
      echo "==> $name already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"
      return 0
    fi
    # Started earlier on another port (the ports changed, or a variable was set then).
    echo "==> $name runs on another port (pid $(cat "$pidfile")); restarting it on $port"
    stop_one "$name" "$pattern"
  fi
  # Bound, not probed: a port another program's outgoing connection holds answers nothing but
  # cannot be listened on either.
  if ! bindable "$port"; then
    echo "error: 127.0.0.1:$port is in use (another program listens on it or holds it); stop it or set the port variable (see --help)" >&2
    exit 1
  fi
  echo "==> Starting $name on 127.0.0.1:$port (log: .tools/run/$name.log)"
  nohup "$@" > "$log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 100); do
    if answers "$port"; then return 0; fi
    # Right after the fork the child may not have exec'd its program yet (its command line is
    # still this script's): only a process that is gone, or a zombie, has exited.
    if ! running "$(cat "$pidfile")"; then
      echo "error: $name exited during start-up; last lines of its log:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "error: $name did not answer on 127.0.0.1:$port within 20 s; see .tools/run/$name.log" >&2
  exit 1
}

stop_one() { # name pattern
  local name=$1 pattern=$2 pidfile="$run/$1.pid" pid
  if ! ours "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    echo "==> $name not running"
    return 0
  fi
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "==> Stopped $name (pid $pid)"
}

write_env() {
  cat > "$run/env" <<ENV
export TENANTRY_MOTO_URL=http://127.0.0.1:$moto_port
export TENANTRY_DYNAMODB_URL=http://127.0.0.1:$dyn_port
export TENANTRY_AWS_MODELS=$tools/aws-models
ENV
}

case "${1:-}" in
  start)
    [[ -x "$tools/venv/bin/moto_server" && -f "$tools/node/node_modules/dynalite/cli.js" && -f "$tools/aws-models/.stamp" ]] || {
      echo "error: stand-ins not installed; run scripts/install-standins.sh" >&2; exit 1; }
    mkdir -p "$run"
    echo "==> Building moto's validating front (cargo build -p emulators --bin aws-front)"
    cargo build --quiet --locked -p emulators --bin aws-front
    start_one moto "$moto_back_port" moto_server "$tools/venv/bin/moto_server" -H 127.0.0.1 -p "$moto_back_port"
    TENANTRY_AWS_MODELS="$tools/aws-models" start_one aws-front "$moto_port" aws-front \
      target/debug/aws-front --port "$moto_port" --upstream "http://127.0.0.1:$moto_back_port" --services "$front_services"
    start_one dynalite "$dyn_port" dynalite node "$tools/node/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$dyn_port"
    write_env
    ;;
  stop)
    stop_one dynalite dynalite
    stop_one aws-front aws-front
    stop_one moto moto_server
    ;;
  status)
    for s in moto:moto_server aws-front:aws-front dynalite:dynalite; do
      n=${s%%:*}; p=${s#*:}
      if ours "$run/$n.pid" "$p"; then echo "$n: running (pid $(cat "$run/$n.pid"))"; else echo "$n: stopped"; fi
    done
    ;;
  env) mkdir -p "$run"; write_env; cat "$run/env" ;;
  -h|--help|"") usage; [[ -n "${1:-}" ]] ;;
  *) echo "unknown command: $1" >&2; usage >&2; exit 2 ;;
esac
