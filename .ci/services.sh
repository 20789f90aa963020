#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on loopback for the integration tests.
# Uses the machine's services when they answer; otherwise installs and starts its own.
# Writes .ci/services.env with the URLs the tests read.
set -euo pipefail
cd "$(dirname "$0")"

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c5 <&3 | grep -q PONG) 2>/dev/null; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! pg_up; then
  echo "PostgreSQL not answering on 127.0.0.1:5432: installing/starting one" >&2
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  conf=/etc/postgresql/$ver/main
  grep -q "^host all all 127.0.0.1/32 trust" "$conf/pg_hba.conf" || sed -i '1i host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 30); do pg_up && break; sleep 1; done
  su postgres -c "psql -tc \"SELECT 1 FROM pg_roles WHERE rolname='root'\" | grep -q 1 || psql -c 'CREATE ROLE root SUPERUSER LOGIN'" || true
fi
if ! redis_up; then
  echo "Redis not answering on 127.0.0.1:6379: installing/starting one" >&2
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 30); do redis_up && break; sleep 1; done
fi

user=$(whoami)
cat > services.env <<ENV
TEST_POSTGRES_URL=postgres://$user@127.0.0.1:5432/postgres
TEST_REDIS_URL=redis://127.0.0.1:6379/15
ENV
echo "services: PostgreSQL $(pg_up && echo up || echo DOWN), Redis $(redis_up && echo up || echo DOWN)"
