# OneClick: `make run` starts the embedded demo, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
WEB_PORT ?= 8000
PAPER_PORT ?= 8100
PAPEREXCHANGE_URL ?= http://127.0.0.1:$(PAPER_PORT)
export WEB_PORT PAPER_PORT PAPEREXCHANGE_URL

.PHONY: run test bench setup demo-data

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

.env:
	$(PY) -m oneclick.lib.devenv .env

demo-data: setup .env
	$(PY) -m oneclick.lib.devenv .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo

run: demo-data
	@$(PY) manage.py demo_login --url http://127.0.0.1:$(WEB_PORT)
	$(VENV)/bin/honcho --procfile Procfile start

test: setup
	$(PY) -m pytest -n auto $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py
