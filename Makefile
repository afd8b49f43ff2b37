# The two commands of the README, and the pieces they are made of.
.PHONY: local test lint build venv bench clean-local

## make local: the whole product on this machine (moto + API on http://127.0.0.1:3000 + workers)
local: venv build
	scripts/local.sh

## make test: every test (lint, template, unit, handlers, HTTP contract, queue behaviour)
test: venv
	scripts/test.sh

lint: venv
	cargo fmt --all -- --check
	SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint --template template.yaml
	cargo clippy --workspace --all-targets -- -D warnings

build:
	cargo build --workspace --bins

venv:
	scripts/ensure-venv.sh

clean-local:
	scripts/moto.sh stop
	rm -rf .local
