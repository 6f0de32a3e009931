#!/bin/sh
# tools/demo.sh: the README's first command — install what is missing, build,
# and run the demo (examples/demo: channels, monitors and a TCP echo over
# coroutine sockets on 127.0.0.1).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/bootstrap.sh" _build
exec "$top/_build/examples/demo"
