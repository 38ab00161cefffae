#!/usr/bin/env bash
# scripts/e2e-compose.sh: the docker compose end-to-end test of the example shop.
# scripts/test.sh (make test, CI) runs it last.
#
#   1. Checks that a Docker engine answers. If none does, it skips with a loud message, except
#      in CI (CI=true), where a missing engine is a failure.
#   2. Seeds the base images the Dockerfile and compose file name (scripts/seed-images.sh: this
#      machine has no registry to pull them from), Jaeger's and Prometheus's included.
#   3. Builds the four service images from examples/Dockerfile, the file users build. The
#      build context is a copy of the work tree with examples/vendor added (`go mod vendor`
#      from the host's module cache) and the build runs with GOPROXY=off, so it needs no
#      network inside the build container.
#   4. Runs examples/e2e/compose_test.go (build tag e2e) with the observability profile on
#      (Jaeger and Prometheus; every service exports OTLP to http://jaeger:4318): compose up,
#      health, Consul, the admin listeners (read inside each service's network namespace; no
#      admin port is published), the gateway's public edge, checkouts through the gateway, a
#      checkout's trace in Jaeger, Prometheus's targets (through Consul), rules, p99 and alerts,
#      and the faults under load; it prints the figures it measured.
#   5. Always `compose down -v` (trap), printing each service's logs when something failed.
#
# Environment: E2E_GATEWAY_PORT / E2E_CONSUL_PORT / E2E_JAEGER_PORT / E2E_PROMETHEUS_PORT
# (loopback ports; default the first free ones from 18080 / 18500 / 26686 / 19090, so the test
# does not collide with a demo on 8080, 16686 or 9090), E2E_PROJECT and
# GANTRY_VERSION (compose project and image tag; default unique per run), E2E_PROBE_IMAGE (the
# image whose wget reads the admin pages; default golang:1.26, which step 2 seeds),
# E2E_KEEP_CONTEXT=1 keeps the build context, E2E_KEEP_IMAGES=1 the images.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)
log() { printf 'e2e-compose [%3ss]: %s\n' "$(($(date +%s) - start))" "$*" >&2; }

skip_or_fail() {
	if [ "${CI:-}" = true ]; then
		log "FAIL: $* (CI=true: the compose end-to-end test must run in CI)"
		exit 1
	fi
	cat >&2 <<-EOF

		################################################################################
		##  SKIPPED: docker compose end-to-end test
		##  $*
		##  Nothing was tested here. In CI (CI=true) this is a failure.
		################################################################################

	EOF
	exit 0
}

command -v docker >/dev/null 2>&1 || skip_or_fail "no docker command on PATH"
timeout 30 docker info >/dev/null 2>&1 || skip_or_fail "no Docker engine answers (docker info failed)"
if docker compose version >/dev/null 2>&1; then
	COMPOSE="docker compose"
elif command -v docker-compose >/dev/null 2>&1; then
	COMPOSE="docker-compose"
else
	skip_or_fail "neither 'docker compose' nor docker-compose is installed"
fi
log "engine $(docker version -f '{{.Server.Version}}'), compose: $COMPOSE ($($COMPOSE version --short 2>/dev/null || true))"

# Each run has its own compose project, image tag, build context and loopback ports, so two
# runs on one machine (two checkouts, or a developer and `make test`) cannot disturb each other.
run_id=$(date +%s)-$$
export E2E_COMPOSE="$COMPOSE"
export E2E_PROJECT=${E2E_PROJECT:-gantry-e2e-$$}
export E2E_COMPOSE_FILES="docker-compose.yml:e2e/testdata/compose.e2e.yml"
export GANTRY_VERSION=${GANTRY_VERSION:-e2e-$run_id}
services=(catalog cart payment gateway devcerts consulacl)

# free_port prints the first port from $1 up that nothing on 127.0.0.1 listens on.
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
		p=$((p + 1))
		[ "$p" -lt $(($1 + 200)) ] || { log "no free port in $1-$p"; exit 1; }
	done
	echo "$p"
}
export GATEWAY_PORT=${E2E_GATEWAY_PORT:-$(free_port 18080)}
export CONSUL_PORT=${E2E_CONSUL_PORT:-$(free_port 18500)}
export JAEGER_PORT=${E2E_JAEGER_PORT:-$(free_port 26686)}
export PROMETHEUS_PORT=${E2E_PROMETHEUS_PORT:-$(free_port 19090)}
# The observability profile: every service exports OTLP over HTTP straight to Jaeger.
export OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318

compose() { (cd examples && $COMPOSE -p "$E2E_PROJECT" -f docker-compose.yml -f e2e/testdata/compose.e2e.yml --profile observability "$@"); }

ctx=$root/examples/.build/context-$run_id
cleanup() {
	rc=$?
	if [ -n "$(compose ps -q 2>/dev/null)" ]; then
		if [ "$rc" != 0 ]; then
			log "failed (exit $rc): logs of each service"
			for s in certs acl-init acl-apply consul postgres catalog-1 catalog-2 payment-1 payment-2 cart-1 cart-2 gateway jaeger prometheus; do
				echo "==== $s ====" >&2
				compose logs --no-color --tail 100 "$s" >&2 2>&1 || true
			done
		fi
		log "compose down -v"
		compose down -v --remove-orphans -t 30 >&2 2>&1 || true
	fi
	[ "${E2E_KEEP_CONTEXT:-0}" = 1 ] || rm -rf "$ctx"
	# This run's tags only; the layers stay cached for the next build.
	[ "${E2E_KEEP_IMAGES:-0}" = 1 ] || for s in "${services[@]}"; do docker image rm "gantry-examples/$s:$GANTRY_VERSION" >/dev/null 2>&1 || true; done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "project $E2E_PROJECT, images gantry-examples/*:$GANTRY_VERSION, gateway 127.0.0.1:$GATEWAY_PORT, consul 127.0.0.1:$CONSUL_PORT, jaeger 127.0.0.1:$JAEGER_PORT, prometheus 127.0.0.1:$PROMETHEUS_PORT"

log "step 1: base images"
bash scripts/seed-images.sh

log "step 1: build context (work tree + examples/vendor) in $ctx"
rm -rf "$ctx"
mkdir -p "$ctx"
# Tracked and untracked-but-not-ignored files, as they are in the work tree.
git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar --null -T - -cf - | tar -C "$ctx" -xf -
(cd "$ctx/examples" && GOFLAGS=-mod=mod GOWORK=off go mod vendor)

log "step 1: build images from examples/Dockerfile (GOPROXY=off, from vendor)"
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for s in "${services[@]}"; do
	t0=$(date +%s)
	# -f names the Dockerfile INSIDE the context: one outside it is sent under a random name,
	# which makes `COPY . /src` differ on every build and defeats the shared build layer.
	docker build -q -f "$ctx/examples/Dockerfile" \
		--build-arg SERVICE="$s" --build-arg GOPROXY=off \
		--build-arg VERSION="$GANTRY_VERSION" --build-arg REVISION="$revision" --build-arg CREATED="$created" \
		-t "gantry-examples/$s:$GANTRY_VERSION" "$ctx" >/dev/null
	log "built gantry-examples/$s:$GANTRY_VERSION in $(($(date +%s) - t0))s"
done
over=0
for s in "${services[@]}"; do
	bytes=$(docker image inspect -f '{{.Size}}' "gantry-examples/$s:$GANTRY_VERSION")
	mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1000000 }')
	user=$(docker image inspect -f '{{.Config.User}}' "gantry-examples/$s:$GANTRY_VERSION")
	log "image gantry-examples/$s:$GANTRY_VERSION: ${mb} MB, user $user"
	[ "$bytes" -le 25000000 ] || { log "WARNING: gantry-examples/$s is over the 25 MB target"; over=1; }
done
[ "$over" = 0 ] || log "WARNING: some images are over the 25 MB target (see above)"
[ "${E2E_KEEP_CONTEXT:-0}" = 1 ] || rm -rf "$ctx"

log "step 1b: compose file validates on its own (with the observability profile, which step 4 runs)"
(cd examples && $COMPOSE -f docker-compose.yml --profile observability config -q)

log "steps 2-6: go test -tags e2e -run TestComposeEndToEnd ./e2e/"
(cd examples && go vet -tags e2e ./e2e/ && go test -tags e2e -count=1 -v -timeout 14m -run '^TestComposeEndToEnd$' ./e2e/)
log "passed in $(($(date +%s) - start))s"
