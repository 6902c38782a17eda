#!/usr/bin/env bash
# Start the services the integration suites use, when they are installed but not running,
# and install Debian's Chromium for the browser suite when it is missing.
set -u
log() { printf 'services: %s\n' "$*"; }

if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || log "PostgreSQL did not start"
fi
if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || log "Redis did not start"
fi
if command -v rabbitmq-server >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  log "starting RabbitMQ"
  rabbitmq-server -detached || log "RabbitMQ did not start"
fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's chromium for the browser suite"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || log "could not install chromium"
  else
    log "chromium is missing: install it (apt-get install chromium) to run the browser suite"
  fi
fi
# axe-core for the browser suite's accessibility check: the exact version pinned (with its
# integrity hash) in tests/integration/axe/package-lock.json, from the npm registry, never a CDN.
axe_dir="$(dirname "$0")/../tests/integration/axe"
if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
  if command -v npm >/dev/null 2>&1; then
    log "installing axe-core for the browser suite"
    npm ci --prefix "$axe_dir" --no-audit --no-fund --ignore-scripts --silent || log "could not install axe-core"
  else
    log "npm is missing: install Node.js and npm to run the browser suite's axe-core check"
  fi
fi
bash "$(dirname "$0")/system-deps.sh"
for i in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break
  sleep 1
done
exit 0
