#!/usr/bin/env bash
# Install everything the tests need on a fresh machine of this kind, then run every test.
# The tests start their own servers (valgame nodes, redis-server, secantusd-py) on free ports and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: redis-server (the bus tests), docker-compose (validates deploy/compose.yaml without an
# engine), chromium (the browser tests, driven by Playwright without a browser download), npm (for the AsyncAPI
# schemas below), prometheus (promtool checks and unit-tests deploy/prometheus; the alert test runs the real server
# against a node), haproxy (the load balancer of the cluster load test and bench/scenario.py, with
# deploy/haproxy/haproxy.cfg).
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; } || need+=(docker-compose)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } || need+=(prometheus)
{ command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; } || need+=(haproxy)
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The official AsyncAPI JSON schemas (npm package @asyncapi/specs): docs/asyncapi.json is validated against 3.0.0.
if [ ! -f "$(npm root --global)/@asyncapi/specs/schemas/3.0.0-without-\$id.json" ]; then
    $SUDO npm install --global --no-audit --no-fund --silent @asyncapi/specs@6
fi
python3 -m pip install --quiet --disable-pip-version-check -e '.[test,load]'

python3 -m ruff check .
python3 -m server docs --check
python3 -m pytest -q -p no:cacheprovider "$@"
# The other socket transport (server/transport/picows.py): the session, hostile-traffic and fault tests again, on
# nodes started with --transport picows (about 5 of the CI's minutes).
python3 -m pytest -q -p no:cacheprovider --transport=picows \
    tests/integration/test_sessions.py tests/integration/test_stuck_sockets.py \
    tests/integration/test_hostile_socket.py tests/integration/test_hostile_http.py \
    tests/integration/test_socket_auth.py tests/integration/test_frames.py tests/integration/test_frames_fuzz.py \
    tests/integration/test_transport.py tests/integration/test_operations.py tests/integration/test_client_sdk.py \
    tests/integration/test_connection_limits.py tests/integration/test_command_deadline.py \
    tests/cluster/test_node_loss.py tests/cluster/test_crash_after_commit.py tests/cluster/test_redis_restart.py
