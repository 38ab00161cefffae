#!/usr/bin/env bash
# scripts/seed-images.sh creates, in the local Docker engine, the base images that
# examples/Dockerfile and examples/docker-compose.yml name:
#
#   golang:1.26                  the builder stage of examples/Dockerfile
#   hashicorp/consul:1.21.0      the consul service of examples/docker-compose.yml
#   jaegertracing/jaeger:2.13.0  the jaeger service (observability profile)
#   prom/prometheus:v3.16.0      the prometheus service (observability profile)
#   postgres:15                  the postgres service (the catalog's, cart's and payment's store)
#
# WHY: the project's machines (developers' and CI's) have a Docker engine but no container
# registry at all, so `FROM golang:1.26` and `image: hashicorp/consul:1.21.0` cannot be pulled.
# Rather than swapping in different Dockerfiles or compose files for the tests, this script
# seeds same-named images locally from what the machine does have:
#
#   - golang:1.26 is `docker import`ed from a tarball of the host's Go toolchain (/usr/local/go,
#     without its test/doc/api trees), a static busybox for /bin/sh and the usual tools, and the
#     host's CA bundle at /etc/ssl/certs/ca-certificates.crt (the path the official image uses and
#     examples/Dockerfile copies into its scratch images). PATH, GOPATH and GOTOOLCHAIN=local are
#     set as in the official image.
#   - hashicorp/consul:1.21.0 is built FROM scratch around the static consul binary that
#     scripts/consul.sh prints (built from the Go module proxy). It keeps the official image's
#     layout where the compose file relies on it: the binary is /bin/consul, and the command in
#     docker-compose.yml works with both images.
#   - jaegertracing/jaeger:2.13.0 is built FROM scratch around the static Jaeger v2 binary that
#     scripts/jaeger.sh prints (module v1.76.0, the code of release v2.13.0), laid out as the
#     official image is (cmd/jaeger/Dockerfile of that release): /cmd/jaeger/jaeger-linux as the
#     entrypoint, /cmd/jaeger/sampling-strategies.json, JAEGER_LISTEN_HOST=0.0.0.0, uid 10001.
#   - prom/prometheus:v3.16.0 is built FROM scratch around the static prometheus and promtool
#     that scripts/prometheus.sh prints (module v0.316.0 = 3.16.0), as the official image has them:
#     /bin/prometheus (the entrypoint, with the official default flags as CMD), /bin/promtool,
#     /prometheus owned by nobody (65534) as the working directory, user nobody. That build has
#     only the Consul, file, HTTP and static service discoveries and no web UI assets (see
#     scripts/prometheus.sh); its HTTP API is all there.
#   - postgres:15 is built FROM scratch around the host's PostgreSQL 15 server from Debian's
#     postgresql package (scripts/postgres.sh installs it): postgres, initdb, pg_ctl and
#     pg_isready from /usr/lib/postgresql/15/bin, the server's modules (no JIT), its share
#     directory and time zones, and every shared library ldd names, at the paths the binaries
#     look for them. It keeps the official image's contract where the compose file relies on it:
#     uid/gid 999 (postgres), PGDATA /var/lib/postgresql/data (a volume), the entrypoint
#     docker-entrypoint.sh that runs initdb on an empty PGDATA with POSTGRES_USER,
#     POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE and POSTGRES_DB, listens on '*' with
#     scram-sha-256 for TCP, and then execs postgres; pg_isready on PATH; STOPSIGNAL SIGINT.
#     The entrypoint is a busybox sh script (initdb.d scripts are not supported: none are used).
#     Its locale is C with UTF-8 encoding (the official image's is en_US.utf8).
#   Both also get a static busybox as /bin/wget, for the compose healthchecks: the official
#   images have a wget on PATH (Jaeger's is Alpine, Prometheus's is busybox).
#
# On a machine with registry access you don't need this script: the official images work as is.
# Idempotent: an image that already exists is left alone (SEED_FORCE=1 rebuilds them).
# Nothing is pushed anywhere. All logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

GO_IMAGE=${GO_IMAGE:-golang:1.26}
CONSUL_IMAGE=${CONSUL_IMAGE:-hashicorp/consul:1.21.0}
JAEGER_IMAGE=${JAEGER_IMAGE:-jaegertracing/jaeger:2.13.0}
PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE:-prom/prometheus:v3.16.0}
POSTGRES_IMAGE=${POSTGRES_IMAGE:-postgres:15}
GOROOT_HOST=${GOROOT_HOST:-$(go env GOROOT 2>/dev/null || echo /usr/local/go)}

log() { printf 'seed-images: %s\n' "$*" >&2; }
have_image() { [ "${SEED_FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gantry-seed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

seed_go() {
	if have_image "$GO_IMAGE"; then
		log "$GO_IMAGE exists; skipping"
		return
	fi
	local busybox
	busybox=$(static_busybox)
	[ -f /etc/ssl/certs/ca-certificates.crt ] || { log "no /etc/ssl/certs/ca-certificates.crt on the host (apt-get install ca-certificates)"; exit 1; }
	local version
	version=$("$GOROOT_HOST/bin/go" env GOVERSION)
	log "building $GO_IMAGE from $GOROOT_HOST ($version) + static busybox + host CA bundle"

	local root=$tmp/goroot
	mkdir -p "$root/usr/local" "$root/bin" "$root/etc/ssl/certs" "$root/go/bin" "$root/go/src" "$root/tmp" "$root/root"
	chmod 1777 "$root/tmp"
	chmod 0777 "$root/go" "$root/go/bin" "$root/go/src"
	cp "$busybox" "$root/bin/busybox"
	local applet
	for applet in $("$root/bin/busybox" --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
	done
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	# The toolchain without what builds never read (its own test suite, docs, API lists).
	tar -C "$(dirname "$GOROOT_HOST")" -cf - \
		--exclude="$(basename "$GOROOT_HOST")/test" \
		--exclude="$(basename "$GOROOT_HOST")/doc" \
		--exclude="$(basename "$GOROOT_HOST")/api" \
		"$(basename "$GOROOT_HOST")" | tar -C "$root/usr/local" -xf -
	[ "$(basename "$GOROOT_HOST")" = go ] || mv "$root/usr/local/$(basename "$GOROOT_HOST")" "$root/usr/local/go"

	tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$tmp/go.tar" .
	docker import \
		--change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change "ENV GOLANG_VERSION=${version#go}" \
		--change 'ENV GOPATH=/go' \
		--change 'ENV GOTOOLCHAIN=local' \
		--change 'WORKDIR /go' \
		--change 'CMD ["/bin/sh"]' \
		--message "seeded by scripts/seed-images.sh from the host's $version" \
		"$tmp/go.tar" "$GO_IMAGE" >&2
	rm -rf "$root" "$tmp/go.tar"
	log "seeded $GO_IMAGE"
}

# file_is_static reports whether the ELF binary $1 has no program interpreter (is static).
file_is_static() {
	! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

# static_busybox prints the path of a static busybox, installing Debian's busybox-static
# when there is none (the builder image's /bin/sh, the healthchecks' wget).
static_busybox() {
	local busybox
	busybox=$(command -v busybox || true)
	if [ -z "$busybox" ] || ! file_is_static "$busybox"; then
		log "installing busybox-static from Debian's packages"
		apt-get install -y -qq busybox-static >&2 || { apt-get update -qq >&2 && apt-get install -y -qq busybox-static >&2; }
		busybox=/bin/busybox
	fi
	file_is_static "$busybox" || { log "$busybox is not a static binary"; exit 1; }
	printf '%s\n' "$busybox"
}

# wget_dir makes $1/bin with a static busybox and a wget link to it, for COPY bin /bin.
wget_dir() {
	mkdir -p "$1/bin"
	cp "$(static_busybox)" "$1/bin/busybox"
	ln -sf busybox "$1/bin/wget"
}

seed_consul() {
	if have_image "$CONSUL_IMAGE"; then
		log "$CONSUL_IMAGE exists; skipping"
		return
	fi
	local bin=${CONSUL_BIN:-}
	if [ -z "$bin" ]; then
		bin=$(bash scripts/consul.sh)
	fi
	file_is_static "$bin" || { log "$bin is not a static binary; a FROM scratch image needs one (CGO_ENABLED=0)"; exit 1; }
	# Capture first: `consul version | head -n1 | grep -q` can die of SIGPIPE under pipefail.
	local v
	v=$("$bin" version 2>/dev/null || true)
	case ${v%%$'\n'*} in
	'Consul v1.21.'*) ;;
	*) log "$bin is not consul v1.21.x (it says: ${v%%$'\n'*})"; exit 1 ;;
	esac
	log "building $CONSUL_IMAGE FROM scratch around $bin"
	local ctx=$tmp/consul
	mkdir -p "$ctx/tmp" "$ctx/consul/data" "$ctx/consul/config"
	chmod 1777 "$ctx/tmp"
	chmod 0777 "$ctx/consul/data"
	cp "$bin" "$ctx/consul-bin"
	cat >"$ctx/Dockerfile" <<-'EOF'
		FROM scratch
		COPY consul-bin /bin/consul
		COPY tmp /tmp
		COPY consul /consul
		EXPOSE 8300 8301 8301/udp 8302 8302/udp 8500 8600 8600/udp
		ENTRYPOINT ["/bin/consul"]
		CMD ["agent", "-dev", "-client", "0.0.0.0"]
	EOF
	docker build -q --label org.opencontainers.image.description="consul v1.21.0 seeded by scripts/seed-images.sh" \
		-t "$CONSUL_IMAGE" "$ctx" >&2
	log "seeded $CONSUL_IMAGE"
}

seed_jaeger() {
	if have_image "$JAEGER_IMAGE"; then
		log "$JAEGER_IMAGE exists; skipping"
		return
	fi
	local bin
	bin=$(bash scripts/jaeger.sh) # JAEGER_BIN, PATH or the cache; builds it once otherwise
	file_is_static "$bin" || { log "$bin is not a static binary; a FROM scratch image needs one (CGO_ENABLED=0)"; exit 1; }
	local jmod
	jmod=$(go env GOMODCACHE)/github.com/jaegertracing/jaeger@v1.76.0
	log "building $JAEGER_IMAGE FROM scratch around $bin"
	local ctx=$tmp/jaeger
	mkdir -p "$ctx/tmp" "$ctx/etc/ssl/certs"
	chmod 1777 "$ctx/tmp"
	wget_dir "$ctx"
	cp "$bin" "$ctx/jaeger-linux"
	cp /etc/ssl/certs/ca-certificates.crt "$ctx/etc/ssl/certs/"
	# The official image ships the release's default sampling strategies; the build left the
	# module in the module cache. Without it, an empty strategy list (sample everything).
	if [ -f "$jmod/cmd/jaeger/sampling-strategies.json" ]; then
		cp "$jmod/cmd/jaeger/sampling-strategies.json" "$ctx/sampling-strategies.json"
	else
		echo '{"default_strategy":{"type":"probabilistic","param":1}}' >"$ctx/sampling-strategies.json"
	fi
	cat >"$ctx/Dockerfile" <<-'EOF'
		FROM scratch
		ENV JAEGER_LISTEN_HOST=0.0.0.0
		COPY bin /bin
		COPY etc /etc
		COPY tmp /tmp
		COPY jaeger-linux /cmd/jaeger/jaeger-linux
		COPY sampling-strategies.json /cmd/jaeger/sampling-strategies.json
		EXPOSE 4317 4318 5778 5779 9411 13133 14250 14268 16686
		VOLUME ["/tmp"]
		ENTRYPOINT ["/cmd/jaeger/jaeger-linux"]
		USER 10001
	EOF
	docker build -q --label org.opencontainers.image.description="jaeger v2.13.0 (module v1.76.0) seeded by scripts/seed-images.sh" \
		-t "$JAEGER_IMAGE" "$ctx" >&2
	log "seeded $JAEGER_IMAGE"
}

seed_prometheus() {
	if have_image "$PROMETHEUS_IMAGE"; then
		log "$PROMETHEUS_IMAGE exists; skipping"
		return
	fi
	local dir
	dir=$(bash scripts/prometheus.sh) # PROMETHEUS_BIN_DIR, PATH or the cache; builds once otherwise
	local b
	for b in prometheus promtool; do
		file_is_static "$dir/$b" || { log "$dir/$b is not a static binary; a FROM scratch image needs one (CGO_ENABLED=0)"; exit 1; }
	done
	log "building $PROMETHEUS_IMAGE FROM scratch around $dir/prometheus and $dir/promtool"
	local ctx=$tmp/prometheus
	mkdir -p "$ctx/tmp" "$ctx/prometheus" "$ctx/etc/prometheus" "$ctx/etc/ssl/certs"
	chmod 1777 "$ctx/tmp"
	wget_dir "$ctx"
	cp "$dir/prometheus" "$dir/promtool" "$ctx/bin/"
	cp /etc/ssl/certs/ca-certificates.crt "$ctx/etc/ssl/certs/"
	# The official image's default configuration: Prometheus scraping itself.
	cat >"$ctx/etc/prometheus/prometheus.yml" <<-'EOF'
		global:
		  scrape_interval: 15s
		scrape_configs:
		  - job_name: prometheus
		    static_configs:
		      - targets: ["localhost:9090"]
	EOF
	cat >"$ctx/Dockerfile" <<-'EOF'
		FROM scratch
		COPY bin /bin
		COPY etc /etc
		COPY tmp /tmp
		COPY --chown=65534:65534 prometheus /prometheus
		EXPOSE 9090
		VOLUME ["/prometheus"]
		WORKDIR /prometheus
		USER 65534
		ENTRYPOINT ["/bin/prometheus"]
		CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
	EOF
	docker build -q --label org.opencontainers.image.description="prometheus 3.16.0 (module v0.316.0, Consul SD only, no UI assets) seeded by scripts/seed-images.sh" \
		-t "$PROMETHEUS_IMAGE" "$ctx" >&2
	log "seeded $PROMETHEUS_IMAGE"
}

seed_postgres() {
	if have_image "$POSTGRES_IMAGE"; then
		log "$POSTGRES_IMAGE exists; skipping"
		return
	fi
	local bindir
	bindir=$(bash scripts/postgres.sh) # installs Debian's postgresql package once
	local pg=${bindir%/bin}
	local major=${pg##*/}
	[ "$major" = 15 ] || { log "$bindir is PostgreSQL $major, want 15 (the image is $POSTGRES_IMAGE)"; exit 1; }
	local share=/usr/share/postgresql/$major
	[ -d "$share" ] || { log "no $share (the server's share directory)"; exit 1; }
	log "building $POSTGRES_IMAGE FROM scratch around $bindir ($("$bindir/postgres" --version))"
	local ctx=$tmp/postgres root=$tmp/postgres/root
	mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/var/lib/postgresql/data" "$root/var/run/postgresql" \
		"$root$pg/bin" "$root$pg/lib" "$root/usr/share/postgresql" "$root/usr/share/zoneinfo"
	chmod 1777 "$root/tmp"
	cp "$(static_busybox)" "$root/bin/busybox"
	local applet
	for applet in sh cat printf mktemp rm echo; do ln -sf busybox "$root/bin/$applet"; done
	local b
	for b in postgres initdb pg_ctl pg_isready; do cp "$bindir/$b" "$root$pg/bin/"; done
	# The server's modules (plpgsql, the encodings' converters, contrib), without the JIT,
	# which needs LLVM (jit is off in the configuration the entrypoint writes).
	find "$pg/lib" -maxdepth 1 -name '*.so' ! -name 'llvmjit*' -exec cp {} "$root$pg/lib/" \;
	cp -r "$share" "$root/usr/share/postgresql/"
	cp -r /usr/share/zoneinfo/. "$root/usr/share/zoneinfo/"
	# Every library the binaries and modules load, at its own path, and the loader.
	local f lib
	for f in "$root$pg"/bin/* "$root$pg"/lib/*.so; do
		ldd "${f#"$root"}" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }'
	done | sort -u | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\npostgres:x:999:\nnogroup:x:65534:\n' >"$root/etc/group"
	cat >"$root/bin/docker-entrypoint.sh" <<-'EOF'
		#!/bin/sh
		# The official postgres image's entrypoint contract, in brief (scripts/seed-images.sh).
		set -e
		case "$1" in -*) set -- postgres "$@" ;; esac
		if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
			password=${POSTGRES_PASSWORD:-}
			if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then password=$(cat "$POSTGRES_PASSWORD_FILE"); fi
			if [ -z "$password" ]; then
				echo "docker-entrypoint.sh: POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE must be set" >&2
				exit 1
			fi
			user=${POSTGRES_USER:-postgres}
			db=${POSTGRES_DB:-$user}
			pwfile=$(mktemp)
			printf '%s\n' "$password" >"$pwfile"
			initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --auth-local=trust \
				--auth-host=scram-sha-256 --locale=C --encoding=UTF8 ${POSTGRES_INITDB_ARGS:-} >&2
			rm -f "$pwfile"
			printf "listen_addresses = '*'\njit = off\n" >>"$PGDATA/postgresql.conf"
			printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
			if [ "$db" != postgres ]; then
				echo "CREATE DATABASE \"$db\";" | postgres --single -j -D "$PGDATA" postgres >/dev/null
			fi
			echo "docker-entrypoint.sh: initialized $PGDATA (user $user, database $db)" >&2
		fi
		exec "$@"
	EOF
	chmod 0755 "$root/bin/docker-entrypoint.sh"
	cat >"$ctx/Dockerfile" <<-EOF
		FROM scratch
		COPY root /
		COPY --chown=999:999 root/var/lib/postgresql /var/lib/postgresql
		COPY --chown=999:999 root/var/run /var/run
		ENV PATH=$pg/bin:/bin PGDATA=/var/lib/postgresql/data LANG=C.UTF-8 TZ=UTC
		VOLUME ["/var/lib/postgresql/data"]
		USER 999:999
		STOPSIGNAL SIGINT
		EXPOSE 5432
		ENTRYPOINT ["/bin/docker-entrypoint.sh"]
		CMD ["postgres"]
	EOF
	chmod 0700 "$root/var/lib/postgresql/data"
	docker build -q --label org.opencontainers.image.description="PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') from Debian's package, seeded by scripts/seed-images.sh" \
		-t "$POSTGRES_IMAGE" "$ctx" >&2
	log "seeded $POSTGRES_IMAGE"
}

command -v docker >/dev/null 2>&1 || { log "docker not found"; exit 1; }
case "${1:-all}" in
go) seed_go ;;
consul) seed_consul ;;
jaeger) seed_jaeger ;;
prometheus) seed_prometheus ;;
postgres) seed_postgres ;;
all) seed_go; seed_consul; seed_jaeger; seed_prometheus; seed_postgres ;;
*) log "usage: $0 [all|go|consul|jaeger|prometheus|postgres]"; exit 2 ;;
esac
