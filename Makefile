# OneClick: `make run` starts the embedded demo, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
WEB_PORT ?= 8000
PAPER_PORT ?= 8100
PAPEREXCHANGE_URL ?= http://127.0.0.1:$(PAPER_PORT)
ONECLICK_SITE_URL ?= http://127.0.0.1:$(WEB_PORT)
export WEB_PORT PAPER_PORT PAPEREXCHANGE_URL ONECLICK_SITE_URL

# The browser tests drive Debian's Chromium (never a downloaded one).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench setup demo-data browser

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

browser: $(CHROMIUM)

.env:
	umask 077 && $(PY) -m oneclick.lib.devenv .env

# Everything the demo writes (the .env's keys, the databases and their journals, the paper exchange's data)
# is readable by its owner only: umask 077 on every step that creates files.
demo-data: setup .env
	umask 077 && $(PY) -m oneclick.lib.devenv .env
	umask 077 && $(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	umask 077 && $(PY) manage.py seed_demo

run: demo-data
	@$(PY) manage.py demo_login --url http://127.0.0.1:$(WEB_PORT)
	umask 077 && $(PY) -m oneclick.lib.honcho_run --procfile Procfile start

# The browser journey shares one set of processes: its tests stay on one worker (xdist_group "e2e").
test: setup browser
	$(PY) -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py
