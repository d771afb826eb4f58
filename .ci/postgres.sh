#!/usr/bin/env bash
# Throwaway PostgreSQL server for tests.
#
#   bash .ci/postgres.sh start DIR   # prints the DSN as the last line of stdout
#   bash .ci/postgres.sh stop DIR    # stops the server and removes DIR
#
# start: finds the PostgreSQL server binaries ($PG_BINDIR, then initdb/pg_ctl on
# PATH, then the newest /usr/lib/postgresql/*/bin); when none are found and we
# are root, installs Debian's `postgresql` package. It then initdb's DIR/data
# (as the `postgres` system user when run as root, since initdb refuses root),
# with trust authentication for loopback connections only, starts the server on
# a free 127.0.0.1 TCP port with its unix socket inside DIR, waits until it
# accepts connections, creates the database `acs_test` and prints
#   postgres://postgres@127.0.0.1:PORT/acs_test?sslmode=disable
# Calling start again on a DIR whose server is running just prints the DSN; a
# stopped one is restarted. Everything except the DSN goes to stderr.
#
# stop: stops the server (pg_ctl stop -m fast) and removes DIR. It is a no-op
# when DIR does not exist, and refuses to delete a non-empty DIR that this
# script did not create a server in.
set -euo pipefail

readonly DB_NAME=acs_test
readonly DB_SUPERUSER=postgres
readonly MARKER=.acs-postgres

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# has_server_binaries DIR: DIR holds initdb, pg_ctl and postgres.
has_server_binaries() {
	[ -n "$1" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]
}

# find_bindir prints the directory of the server binaries, or fails.
find_bindir() {
	local c candidates=()
	if [ -n "${PG_BINDIR:-}" ]; then
		candidates+=("$PG_BINDIR")
	fi
	for c in pg_ctl initdb; do
		if command -v "$c" >/dev/null 2>&1; then
			candidates+=("$(dirname "$(readlink -f "$(command -v "$c")")")")
		fi
	done
	# Newest version first.
	while IFS= read -r c; do
		candidates+=("$c")
	done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV || true)
	for c in "${candidates[@]}"; do
		if has_server_binaries "$c"; then
			printf '%s\n' "$c"
			return 0
		fi
	done
	return 1
}

install_postgresql() {
	is_root || die "PostgreSQL server binaries (initdb, pg_ctl) not found, and not root so cannot install them; install PostgreSQL or set PG_BINDIR"
	command -v apt-get >/dev/null 2>&1 || die "PostgreSQL server binaries not found and apt-get is not available; install PostgreSQL or set PG_BINDIR"
	log "PostgreSQL server binaries not found; installing Debian's postgresql package"
	# All apt output goes to stderr so that stdout carries only the DSN.
	{
		apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
	} >&2 || die "apt-get install postgresql failed"
}

# pick_os_user prints the non-root OS user that owns and runs the cluster.
pick_os_user() {
	if ! is_root; then
		id -un
		return 0
	fi
	if id -u postgres >/dev/null 2>&1; then
		echo postgres
		return 0
	fi
	# Server binaries without the Debian package (which creates `postgres`):
	# create a dedicated system user.
	log "creating system user postgres"
	if command -v useradd >/dev/null 2>&1; then
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin postgres >&2
	elif command -v adduser >/dev/null 2>&1; then
		adduser --system --group --no-create-home --home /nonexistent postgres >&2
	else
		die "running as root, no postgres user, and neither useradd nor adduser is available"
	fi
	echo postgres
}

# as_user CMD...: run CMD as the cluster's OS user, from /, with the C locale.
as_user() {
	if is_root; then
		if command -v runuser >/dev/null 2>&1; then
			(cd / && runuser -u "$OS_USER" -- env LC_ALL=C "$@")
		else
			(cd / && su -s /bin/sh "$OS_USER" -c "$(printf '%q ' env LC_ALL=C "$@")")
		fi
	else
		(cd / && env LC_ALL=C "$@")
	fi
}

# client BIN: path of a client program (psql, createdb, pg_isready).
client() {
	if [ -x "$BINDIR/$1" ]; then
		printf '%s\n' "$BINDIR/$1"
	elif command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	else
		die "$1 not found (looked in $BINDIR and PATH)"
	fi
}

# port_in_use PORT: something listens on 127.0.0.1:PORT.
port_in_use() {
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# random_free_port prints a port below the Linux ephemeral range that nothing
# listens on. Another process may still take it before postgres binds it;
# start_server retries in that case.
random_free_port() {
	local port i
	for i in $(seq 1 50); do
		port=$((15000 + (RANDOM % 17000)))
		if ! port_in_use "$port"; then
			echo "$port"
			return 0
		fi
	done
	die "no free TCP port found"
}

server_running() {
	[ -f "$DATA/postmaster.pid" ] && as_user "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

write_config() {
	local port=$1
	cat >"$DATA/acs_test.conf" <<EOF
# Written by .ci/postgres.sh: a throwaway test server, not durable.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$SOCKDIR'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 200
max_wal_size = 256MB
logging_collector = off
log_min_messages = warning
log_min_error_statement = panic
EOF
	chown "$OS_USER" "$DATA/acs_test.conf"
}

init_cluster() {
	rm -rf "$DATA"
	install -d -m 0700 -o "$OS_USER" "$DATA"
	log "initdb $DATA (as $OS_USER)"
	if ! as_user "$BINDIR/initdb" -D "$DATA" -U "$DB_SUPERUSER" -A trust -E UTF8 --no-locale -N \
		>"$DIR/initdb.log" 2>&1; then
		cat "$DIR/initdb.log" >&2
		die "initdb failed"
	fi
	# Trust, but only over the unix socket inside DIR and loopback TCP.
	cat >"$DATA/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
host    all       all   ::1/128        trust
EOF
	chown "$OS_USER" "$DATA/pg_hba.conf"
	echo "include = 'acs_test.conf'" >>"$DATA/postgresql.conf"
}

start_server() {
	local attempt port
	for attempt in 1 2 3 4 5; do
		port=$(random_free_port)
		write_config "$port"
		: >"$LOGFILE"
		chown "$OS_USER" "$LOGFILE"
		if as_user "$BINDIR/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 15 -s start >&2; then
			echo "$port" >"$DIR/port"
			return 0
		fi
		if grep -qE 'could not bind|Address already in use|could not create any TCP/IP sockets' "$LOGFILE"; then
			log "port $port was taken, retrying ($attempt)"
			as_user "$BINDIR/pg_ctl" -D "$DATA" -m immediate -s stop >/dev/null 2>&1 || true
			continue
		fi
		cat "$LOGFILE" >&2
		die "postgres did not start"
	done
	cat "$LOGFILE" >&2
	die "postgres did not start after 5 attempts"
}

ensure_database() {
	local port=$1 psql createdb exists
	psql=$(client psql)
	createdb=$(client createdb)
	exists=$(PGCONNECT_TIMEOUT=5 "$psql" -X -q -h 127.0.0.1 -p "$port" -U "$DB_SUPERUSER" -d postgres -tA \
		-c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") || die "cannot connect to postgres on port $port"
	if [ "$exists" != 1 ]; then
		"$createdb" -h 127.0.0.1 -p "$port" -U "$DB_SUPERUSER" "$DB_NAME" || die "createdb $DB_NAME failed"
	fi
}

cmd_start() {
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd -P)
	case "$DIR" in
	*\'* | *[[:space:]]*) die "DIR must not contain quotes or whitespace: $DIR" ;;
	esac
	: >"$DIR/$MARKER"

	if ! BINDIR=$(find_bindir); then
		install_postgresql
		BINDIR=$(find_bindir) || die "PostgreSQL server binaries still not found after installing postgresql"
	fi
	OS_USER=$(pick_os_user)
	echo "$BINDIR" >"$DIR/bindir"
	echo "$OS_USER" >"$DIR/user"

	DATA=$DIR/data
	LOGFILE=$DIR/log/postgres.log
	# Unix socket paths are limited to 107 bytes; fall back to a short
	# directory under /tmp (removed by stop) when DIR is too deep.
	SOCKDIR=$DIR/run
	if [ $((${#SOCKDIR} + 20)) -gt 107 ]; then
		if [ -f "$DIR/sockdir" ]; then
			SOCKDIR=$(cat "$DIR/sockdir")
		else
			SOCKDIR=$(mktemp -d /tmp/acs-pgsock.XXXXXX)
			echo "$SOCKDIR" >"$DIR/sockdir"
		fi
	fi

	# The cluster's OS user must be able to reach DIR.
	if is_root; then
		chmod go+x "$DIR"
		install -d -m 0700 -o "$OS_USER" "$DIR/log" "$SOCKDIR"
		as_user test -x "$DIR" ||
			die "user $OS_USER cannot reach $DIR (a parent directory is not searchable); use a DIR under /tmp"
	else
		install -d -m 0700 "$DIR/log" "$SOCKDIR"
	fi

	if [ -f "$DATA/PG_VERSION" ] && [ -f "$DIR/port" ] && server_running; then
		log "already running in $DIR"
	else
		if [ ! -f "$DATA/PG_VERSION" ] || ! grep -q "^include = 'acs_test.conf'" "$DATA/postgresql.conf" 2>/dev/null; then
			init_cluster
		fi
		start_server
	fi
	local port
	port=$(cat "$DIR/port")
	ensure_database "$port"
	log "ready on 127.0.0.1:$port (data $DATA, log $LOGFILE)"
	echo "postgres://$DB_SUPERUSER@127.0.0.1:$port/$DB_NAME?sslmode=disable"
}

cmd_stop() {
	if [ ! -d "$DIR" ]; then
		return 0
	fi
	DIR=$(cd "$DIR" && pwd -P)
	if [ ! -f "$DIR/$MARKER" ]; then
		if rmdir "$DIR" 2>/dev/null; then
			return 0
		fi
		die "$DIR was not created by '$0 start'; not removing it"
	fi
	DATA=$DIR/data
	if [ -f "$DATA/postmaster.pid" ]; then
		BINDIR=$(cat "$DIR/bindir" 2>/dev/null || true)
		OS_USER=$(cat "$DIR/user" 2>/dev/null || id -un)
		has_server_binaries "$BINDIR" || BINDIR=$(find_bindir || true)
		if ! { [ -n "$BINDIR" ] && as_user "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 10 -s stop >&2; }; then
			# pg_ctl failed (or is gone): stop the postmaster we started.
			local pid
			pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)
			if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
				log "pg_ctl stop failed; sending SIGQUIT to postmaster $pid"
				kill -QUIT "$pid" 2>/dev/null || true
				for _ in $(seq 1 50); do
					kill -0 "$pid" 2>/dev/null || break
					sleep 0.1
				done
				kill -KILL "$pid" 2>/dev/null || true
			fi
		fi
	fi
	if [ -f "$DIR/sockdir" ]; then
		local sockdir
		sockdir=$(cat "$DIR/sockdir")
		case "$sockdir" in
		/tmp/acs-pgsock.*) rm -rf "$sockdir" ;;
		esac
	fi
	rm -rf "$DIR"
}

[ $# -eq 2 ] || usage
[ -n "$2" ] || usage
DIR=$2
case "$(cd "$DIR" 2>/dev/null && pwd -P || echo "$DIR")" in
/ | /tmp | /root | /home | "${HOME:-/}") die "refusing to use $DIR as the throwaway directory" ;;
esac
case "$1" in
start) cmd_start ;;
stop) cmd_stop ;;
*) usage ;;
esac
