#!/usr/bin/env bash
# Install everything the tests need on a fresh machine of this kind, then run every test.
# The tests start their own servers (valgame nodes, redis-server, secantusd-py) on free ports and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

python3 -m ruff check .
python3 -m server docs --check
python3 -m pytest -q -p no:cacheprovider "$@"
