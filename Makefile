# The two commands a new user needs: `make demo` runs the example shop, `make test` runs
# every test, including the real-Consul and docker compose ones (see scripts/test.sh).
.PHONY: demo tour test bench

demo:
	cd examples && go run ./cmd/shop

tour:
	cd examples && go run ./cmd/shop -tour

test:
	bash scripts/test.sh

bench:
	bash scripts/bench.sh
