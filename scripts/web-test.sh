#!/usr/bin/env bash
# The web chat's browser test: the distribution's headless Chromium, driven over WebDriver
# (selenium), signs in as demo users of a local stack and checks what a clinician sees (the
# badge, a streamed answer citing the clinic's own documents, premium tools, the message for a
# throttled request, phone width). Screenshots of each step go to the output folder.
# Uses a running devstack if there is one; otherwise starts one and stops it afterwards.
# Usage: scripts/web-test.sh [--out DIR]   (default .tools/web-test)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.tools/web-test
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out=${2:?--out needs a folder}; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
scripts/install-standins.sh --browser
run=.tools/run
alive() { [[ -f $run/devstack.json && -f $run/devstack.pid && -r /proc/$(cat "$run/devstack.pid")/cmdline ]]; }
started=0
if alive; then
  echo "==> Using the running devstack"
else
  scripts/devstack.sh up --web-port 0 > /dev/null
  started=1
  trap 'scripts/devstack.sh down > /dev/null' EXIT
fi
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["web_url"])' "$run/devstack.json")
echo "==> Web chat at $url: headless Chromium, screenshots in $out"
rm -rf "$out"
# SE_OFFLINE: selenium never fetches a browser or driver; the distribution's are named.
SE_OFFLINE=true .tools/venv/bin/python web/tests/browser_test.py --url "$url" --out "$out" --run-dir "$run"
[[ $started == 1 ]] && echo "==> Stopping the devstack it started"
exit 0
