#!/usr/bin/env bash
# `make test`: installs what the suite needs (a throwaway PostgreSQL,
# headless Chromium, stripe-mock), runs every test with the race detector,
# and cleans up. Runs as root on CI; every install is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools"
mkdir -p "$tools"

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Headless Chromium for the status page end-to-end test.
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (Debian package)"
  apt_install chromium
fi
export ACS_TEST_CHROMIUM="$(command -v chromium)"

# stripe-mock checks our calls to standard Stripe endpoints.
if [ ! -x "$tools/stripe-mock" ]; then
  echo "== installing stripe-mock v0.203.0"
  GOBIN="$tools" go install github.com/stripe/stripe-mock@v0.203.0
fi
export ACS_TEST_STRIPE_MOCK="$tools/stripe-mock"

# A throwaway PostgreSQL on a loopback port, stopped on exit.
pgdir=$(mktemp -d /tmp/acs-pg.XXXXXX)
cleanup() { bash .ci/postgres.sh stop "$pgdir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
echo "== starting a throwaway PostgreSQL"
ACS_TEST_POSTGRES_DSN=$(bash .ci/postgres.sh start "$pgdir" | tail -n 1)
export ACS_TEST_POSTGRES_DSN
# In `make test` nothing may skip for want of a dependency.
export ACS_REQUIRE_POSTGRES=1 ACS_REQUIRE_CHROMIUM=1 ACS_REQUIRE_STRIPE_MOCK=1

echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...

echo "== make install into a scratch prefix, then check the installed config"
inst=$(mktemp -d /tmp/acs-install.XXXXXX)
make -s install PREFIX="$inst/usr" SYSCONFDIR="$inst/etc" UNITDIR="$inst/etc/systemd/system" >/dev/null
test -x "$inst/usr/bin/acs-connector"
grep -q "$inst/usr/bin/acs-connector run" "$inst/etc/systemd/system/acs-connector.service"
! grep -q '@PREFIX@\|@SYSCONFDIR@' "$inst/etc/systemd/system/acs-connector.service"
"$inst/usr/bin/acs-connector" plugins verify --dir "$inst/usr/lib/acs-connector/plugins"
mkdir -p "$inst/state"
ACS_STATE_DIR="$inst/state" "$inst/usr/bin/acs-connector" config check --config "$inst/etc/acs-connector/config.yaml.example"
rm -rf "$inst"
echo "install: ok"
