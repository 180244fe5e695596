# The two commands a newcomer runs: `make run` and `make test`.
# Each builds .venv on its own when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin
EXTRAS ?= local,embed,dev,cdk
ENVIRONMENTS := dev staging prod

.PHONY: run test venv bench synth clean fuzz test-live-aws

$(STAMP): pyproject.toml
	@echo "openpeek: installing the dependencies into $(VENV) (the first time takes a few minutes) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/openpeek serve $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The fuzz tier's long run: mutated requests of every route against a live server, 25,000 cases by default
# (`make test` runs 2,500 of them); FUZZ_CASES and FUZZ_SEED change that. Schemathesis' cases from the OpenAPI
# document: 5,000 by default (`make test` runs 450); SCHEMA_FUZZ_CASES changes that.
fuzz: $(STAMP)
	OPENPEEK_FUZZ_CASES=$${FUZZ_CASES:-25000} OPENPEEK_FUZZ_SEED=$${FUZZ_SEED:-7} \
	  OPENPEEK_SCHEMA_FUZZ_CASES=$${SCHEMA_FUZZ_CASES:-5000} \
	  $(BIN)/python -m pytest tests/fuzz -q --timeout 3600

# The live AWS tier (live/aws): the S3 Vectors cold store against the real service, with the credentials and region
# of the environment; OPENPEEK_LIVE_VECTOR_BUCKET names an existing vector bucket, otherwise one is made and removed.
test-live-aws: $(STAMP)
	$(BIN)/python -m pytest live/aws -q -m live_aws

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The CloudFormation templates of every environment, one folder each (cdk.out/<env>). Lambda bundling is skipped, so
# this needs no network; `cdk deploy` bundles for real. BUNDLE=1 bundles here too (pip, registry access).
synth: $(STAMP)
	@for env in $(ENVIRONMENTS); do \
	  echo "synth $$env -> cdk.out/$$env"; \
	  rm -rf cdk.out/$$env; \
	  OPENPEEK_ENV=$$env CDK_OUTDIR=cdk.out/$$env \
	  CDK_CONTEXT_JSON='$(if $(BUNDLE),{},{"aws:cdk:bundling-stacks":[]})' $(BIN)/python app.py || exit 1; \
	done

clean:
	rm -rf $(VENV) .openpeek .pytest_cache cdk.out
