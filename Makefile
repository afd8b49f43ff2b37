# The two commands of the README, and the pieces they are made of.
.PHONY: local test lint build package venv toolchain bench clean-local

## make local: the whole product on this machine (moto + API on http://127.0.0.1:3000 + workers)
local: venv build
	scripts/local.sh

## make test: every test (lint, template, unit, handlers, HTTP contract, queue behaviour)
test: toolchain venv
	scripts/test.sh

lint: toolchain venv
	cargo fmt --all -- --check
	SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint --template template.yaml
	.venv/bin/openapi-spec-validator docs/openapi.yaml
	cargo clippy --workspace --all-targets -- -D warnings

build: toolchain
	cargo build --workspace --bins

## make package: every function (or FUNCTIONS="a b") built for arm64 and zipped by cargo-lambda,
## as target/lambda/<fn>/bootstrap.zip; prints each size
FUNCTIONS ?=
package: toolchain venv
	scripts/package.sh $(FUNCTIONS)

## make bench: cold starts against a hello-world baseline, arm64 zip sizes, write units per
## agreement, the TLS crates; each beside its goal (docs/benchmarks.md, "Lean functions").
## FUNCTIONS="a b" limits it; BENCH_SKIP_PACKAGE=1 judges the zips already in target/lambda.
bench: toolchain venv
	FUNCTIONS="$(FUNCTIONS)" scripts/bench.sh

venv:
	scripts/ensure-venv.sh

## the pinned toolchain (rust-toolchain.toml), aliased to stable when that is the same version
toolchain:
	scripts/ensure-toolchain.sh

clean-local:
	scripts/moto.sh stop
	rm -rf .local
