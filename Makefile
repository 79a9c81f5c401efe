# Two commands on a fresh machine: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
UV := $(shell command -v uv >/dev/null 2>&1 && echo uv || echo "python3 -m uv")
RUN := $(UV) run --frozen
PY_SRC := infra stacks pipelines policies tests benchmarks
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: bootstrap up down status demo load test lint workflow-lint typecheck compat docs docs-check pytest tracer-test bench cost drill clean

bootstrap:            ## install what is missing (apt, uv, Python deps, Kafka jars, npm)
	@bash scripts/bootstrap.sh

up: bootstrap         ## start Kafka (KRaft), Redis and moto on loopback (idempotent)
	@$(RUN) python -m pipelines.local.engines up

down:                 ## stop the local engines
	@$(RUN) python -m pipelines.local.engines down

status:               ## show the local engines
	@$(RUN) python -m pipelines.local.engines status

demo: bootstrap       ## run the pipeline locally; FINISH=1 exits when done instead of staying up
	@$(RUN) python -m pipelines.demo $(if $(FINISH),--finish,)

test: bootstrap lint workflow-lint compat docs-check pytest tracer-test  ## every check and test
	@echo "make test: all checks passed"

lint:                 ## ruff (lint + format) and pyright
	@$(RUN) ruff check $(PY_SRC)
	@$(RUN) ruff format --check $(PY_SRC)
	@$(RUN) pyright

workflow-lint:        ## actionlint + zizmor over .github/workflows
	@$${AA_JAR_CACHE:-$$HOME/.cache/affiliate-analytics}/bin/actionlint
	@$(UV) tool run zizmor@1.32.0 --offline --quiet --config .github/zizmor.yml .github/workflows

compat:               ## Avro BACKWARD compatibility of every schema against main's history
	@$(RUN) python -m pipelines.contracts.compat

docs:                 ## regenerate generated docs
	@$(RUN) python -m pipelines.contracts.docs

docs-check:           ## generated files are up to date (contract reference, dbt sources)
	@$(RUN) python -m pipelines.contracts.docs --check
	@$(RUN) python -m pipelines.batch.sources --check

pytest:
	@$(RUN) pytest

tracer-test:
	@npm --prefix tracer test
	@npm --prefix pipelines/dashboard/web run --silent typecheck

cost: bootstrap       ## monthly estimate per stack from the resource graph (+ untagged resources); docs/cost/
	@$(RUN) python -m pipelines.ops.cost estimate --stack dev --out docs/cost
	@$(RUN) python -m pipelines.ops.cost estimate --stack prod --out docs/cost

load: bootstrap       ## Locust on the collector: PROFILE=normal|peak DURATION=60s [HOST=http://collector:8080]
	@$(RUN) python -m pipelines.traffic.load --profile $(or $(PROFILE),normal) --duration $(or $(DURATION),60s) $(if $(HOST),--host $(HOST),)

bench: bootstrap      ## benchmarks; results in docs/BENCHMARKS.md
	@$(RUN) python -m benchmarks $(BENCH)

drill: bootstrap      ## disaster-recovery drills on local engines: recovery time and events lost per scenario; DRILL="redis warehouse" picks some
	@$(RUN) python -m pipelines.ops.drill $(DRILL)

clean: down
	rm -rf .local
