#!/usr/bin/env bash
# Screenshots of the dashboard as a duty officer sees it, in headless Chromium (scripts/browser.py):
# Vietnamese, 1440 x 1000, once the map and the alerts are drawn. Loopback only; bounded by the
# browser script's own timeouts.
#   scripts/screenshot.sh http://127.0.0.1:PORT/ docs/ops-room.png [TOKEN]
set -euo pipefail
url=$1 out=$2 token=${3:-}
mkdir -p "$(dirname "$out")"
{
  echo '{"cmd": "languages", "accept": "vi-VN,vi;q=0.9"}'
  [ -n "$token" ] && echo "{\"cmd\": \"eval\", \"expr\": \"localStorage.setItem('collector.token', '$token'); true\"}"
  echo '{"cmd": "eval", "expr": "localStorage.removeItem(\"collector.lang\"); location.reload(); true"}'
  echo '{"cmd": "wait", "timeout": 60, "expr": "document.body.dataset.loaded === \"yes\" && document.body.dataset.sse === \"open\" && document.querySelectorAll(\"#map-svg circle.station\").length > 0"}'
  echo '{"cmd": "eval", "expr": "new Promise(r => setTimeout(() => r(true), 1500))"}'
  echo "{\"cmd\": \"screenshot\", \"path\": \"$out\"}"
  echo '{"cmd": "quit"}'
} | python3 scripts/browser.py "$url" 1440 1000 | while read -r line; do
  case "$line" in *'"ok": false'*) echo "screenshot: $line" >&2; exit 1 ;; esac
done
echo "screenshot: $out"
