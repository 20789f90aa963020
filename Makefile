# make demo   - set up and run the product on SQLite with demo data (http://127.0.0.1:8000, or the next free port)
# make test   - set up and run the whole test suite (what CI runs)
# make bench  - run tests/benchmarks and write tests/benchmarks/results.md
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export OPENBLAS_NUM_THREADS ?= 1
DEMO_CUSTOMERS ?= 5000
DEMO_PORT ?= 8000

.PHONY: demo test bench lint venv dev-venv services e2e-deps gettext-deps compilemessages serve worker beat clean assets

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev

# Browser libraries (Chart.js and its matrix chart, htmx, axe-core) at the exact versions of package-lock.json, served as static
# files from node_modules/ (see STATICFILES_DIRS). Reinstalled when the lock file is newer than the install.
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null) \
		|| { echo "make assets needs Node.js with npm (https://nodejs.org/, or the Debian package npm)"; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

assets: node_modules/.package-lock.json

demo: venv assets compilemessages
	$(PY) manage.py migrate --noinput
	@# The first free port from DEMO_PORT (another server may hold 8000): the links printed, the e-mails' tracking
	@# links, their product links (to the demo storefront) and the server all use it.
	@port=$$($(PY) manage.py demo_port --start $(DEMO_PORT)) || exit 1; \
	url=http://127.0.0.1:$$port; export MARKETING_BASE_URL=$${MARKETING_BASE_URL:-$$url}; \
	export MARKETING_PRODUCT_URL=$${MARKETING_PRODUCT_URL:-"$$url/shop/p/{sku}/"}; \
	export MARKETING_PRODUCT_IMAGE_URL=$${MARKETING_PRODUCT_IMAGE_URL:-$$url/static/shop/product.svg}; \
	$(PY) manage.py setup_demo --customers $(DEMO_CUSTOMERS) --url $$url && \
	$(PY) manage.py setup_demo_campaigns && \
	echo "Serving on $$url/staff/ (staff pages) and $$url/admin/ (Ctrl-C to stop)" && \
	echo "Demo storefront (the shop's side): $$url/shop/" && \
	MARKETING_ATTRIBUTION_SECONDS=$${MARKETING_ATTRIBUTION_SECONDS:-60} exec $(PY) manage.py serve_demo 127.0.0.1:$$port

services:
	bash .ci/services.sh

e2e-deps:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null)
	@# A Chinese font, so the Simplified Chinese pages' screenshots show text rather than empty boxes.
	@fc-list :lang=zh | grep -q . || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null)

# The interface's translations: .po files in locale/ are the source, the .mo files are built here (not committed).
gettext-deps:
	@command -v msgfmt >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gettext >/dev/null)

compilemessages: venv gettext-deps
	$(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules --ignore=staticfiles

test: dev-venv assets services e2e-deps compilemessages
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run --settings=config.settings.test
	# The suite on SQLite (the embedded default), the same suite on PostgreSQL (browser tests once are enough),
	# then the integration tests on PostgreSQL + Redis + a real worker.
	$(PY) -m pytest -n 2 -m "not integration"
	set -a; source .ci/services.env; set +a; DATABASE_URL=$$TEST_POSTGRES_URL $(PY) -m pytest -n 2 -m "not integration and not e2e"
	set -a; source .ci/services.env; set +a; DATABASE_URL=$$TEST_POSTGRES_URL $(PY) -m pytest -m integration tests/integration

bench: dev-venv services
	set -a; source .ci/services.env; set +a; $(PY) tests/benchmarks/run.py

lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

serve: venv assets compilemessages
	# release (migrations) runs to completion first; honcho would stop the others when it exits.
	$(VENV)/bin/honcho start release
	$(VENV)/bin/honcho start web worker beat

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
