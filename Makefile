# manyi 满意 — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 5000
DEMO_CITIES    ?= 3
DEMO_RESPONSES ?= 5000

.PHONY: run test fuzz install lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

instance/secret_key:
	mkdir -p instance
	$(BIN)/python -c "import secrets; print(secrets.token_hex(32))" > instance/secret_key
	chmod 600 instance/secret_key

# Fernet key for complainants' phone numbers (survey/complaints; MANYI_COMPLAINT_KEY).
instance/complaint_key: | $(STAMP)
	mkdir -p instance
	$(BIN)/python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" > instance/complaint_key
	chmod 600 instance/complaint_key

run: install instance/secret_key instance/complaint_key
	$(BIN)/manyi db upgrade
	MANYI_COMPLAINT_KEY="$$(cat instance/complaint_key)" \
	$(BIN)/manyi demo --if-empty --cities $(DEMO_CITIES) --responses $(DEMO_RESPONSES) --seed 1
	@echo
	@echo "manyi is serving on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@echo "Demo logins: the accounts and their random passwords are in instance/demo-credentials.txt"
	@echo "(mode 600; passwords are never printed to the terminal or a log)"
	@echo
	@# Login throttling counts in the rate limiter's store: several worker processes only
	@# with a shared one (MANYI_RATELIMIT_STORAGE_URI=redis://...), else one process.
	MANYI_BASE_URL="$${MANYI_BASE_URL:-http://$(HOST):$(PORT)}" \
	MANYI_SECRET_KEY="$$(cat instance/secret_key)" \
	MANYI_COMPLAINT_KEY="$$(cat instance/complaint_key)" $(BIN)/gunicorn \
		--workers $$([ -n "$$MANYI_RATELIMIT_STORAGE_URI" ] && echo 2 || echo 1) --threads 8 \
		--no-control-socket \
		--bind $(HOST):$(PORT) --access-logfile - --access-logformat '"%(m)s %(U)s" %(s)s %(b)s %(M)sms' \
		'survey:create_app()'

# Static checks first (each stops `make test` when it fails), then the suite.
test: lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# schemathesis against docs/openapi.yaml on a throw-away instance (tests/fuzz; ~3 min,
# fixed seed; docs/decisions.md "API fuzzing in CI"). .ci/run runs it after `make test`.
fuzz: install
	$(BIN)/python -m tests.fuzz

lint: install
	$(BIN)/ruff check survey analysis tests benchmarks migrations
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/analysis_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
