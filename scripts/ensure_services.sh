#!/usr/bin/env bash
# Starts what the tests need when it is not already running: Redis (Celery's broker) and PostgreSQL.
set -euo pipefail

redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/cairn-tests.log
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
fi
redis_up || { echo "Redis could not be started on 127.0.0.1:6379" >&2; exit 1; }
echo "redis: up"

if command -v pg_isready >/dev/null; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 && echo "postgres: up" || { echo "PostgreSQL could not be started on 127.0.0.1:5432 (the tests need it)" >&2; exit 1; }
fi
