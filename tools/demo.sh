#!/bin/sh
# tools/demo.sh: the README's first command — install what is missing, build,
# and run the distributed demo (examples/dist_demo: a server and two clients
# as separate processes on 127.0.0.1 that discover each other, exchange
# greetings, show peer status and leave cleanly). `tools/demo.sh engine`
# runs the engine tour (examples/demo) instead.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/bootstrap.sh" _build
case "${1:-dist}" in
engine) exec "$top/_build/examples/demo" ;;
*) exec "$top/_build/examples/dist_demo" ;;
esac
