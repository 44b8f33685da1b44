# The two commands a newcomer needs:   make run   (the site at http://127.0.0.1:5000, with its
#                                                 worker and the sandbox gateway: the Procfile)
#                                      make test  (the whole test suite)
# Both create the virtual environment on first use: `make run` installs the runtime set
# (requirements.txt), `make test` and `make lint` add the development set (requirements-dev.txt).
# Both files are compiled from requirements.in / requirements-dev.in by `make requirements`.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
GATEWAY_PORT ?= 5001
ALIPAY_PORT ?= 5002
WECHATPAY_PORT ?= 5003
SMS_PORT ?= 5004
PYTEST_ARGS ?=
# test processes (pytest-xdist): one per core; PYTEST_WORKERS=0 runs the suite in this process
PYTEST_WORKERS ?= auto
# pip-tools, in a virtual environment of its own (it never enters .venv)
TOOLS_VENV ?= .venv-tools
PIP_TOOLS  ?= pip-tools==7.7.0
# e.g. COMPILE_ARGS="--upgrade-package flask" or COMPILE_ARGS=--upgrade
COMPILE_ARGS ?=
PIP_COMPILE = $(TOOLS_VENV)/bin/pip-compile --quiet --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links $(COMPILE_ARGS)

.PHONY: run test lint translations extract-messages requirements clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The runtime set: what `make run` needs.
$(BIN)/.installed-runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# The runtime set plus the development and test tools: what `make test` and `make lint` need.
$(BIN)/.installed-dev: $(BIN)/.installed-runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

# After editing requirements.in or requirements-dev.in: pin every package, direct and transitive.
# Versions already pinned stay unless the .in files need otherwise (or COMPILE_ARGS says so).
requirements:
	test -x $(TOOLS_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(TOOLS_VENV) \
		&& $(TOOLS_VENV)/bin/python -m pip install --quiet $(PIP_TOOLS); }
	$(PIP_COMPILE) --output-file=requirements.txt requirements.in
	$(PIP_COMPILE) --output-file=requirements-dev.txt requirements-dev.in

translations: $(BIN)/.installed-runtime
	$(BIN)/pybabel -q compile -d produce_match/translations

# The Procfile's processes together through honcho: the site, its worker, the sandbox
# payment gateway (a development tool of its own, on GATEWAY_PORT, which the site and the
# worker reach at PAYMENTS_SANDBOX_URL), the Alipay emulator (on ALIPAY_PORT) and the WeChat Pay
# emulator (WECHATPAY_PORT, reached at WECHATPAY_BASE_URL) and the SMS emulator (SMS_PORT,
# reached at SMS_ENDPOINT; its inbox shows the codes sent); Ctrl-C stops them all.
run: translations
	HOST=$(HOST) WEB_PORT=$(PORT) GATEWAY_PORT=$(GATEWAY_PORT) ALIPAY_PORT=$(ALIPAY_PORT) \
	WECHATPAY_PORT=$(WECHATPAY_PORT) SMS_PORT=$(SMS_PORT) \
	PAYMENTS_SANDBOX_URL=$${PAYMENTS_SANDBOX_URL:-http://127.0.0.1:$(GATEWAY_PORT)} \
	ALIPAY_GATEWAY_URL=$${ALIPAY_GATEWAY_URL:-http://127.0.0.1:$(ALIPAY_PORT)/gateway.do} \
	WECHATPAY_BASE_URL=$${WECHATPAY_BASE_URL:-http://127.0.0.1:$(WECHATPAY_PORT)} \
	SMS_ENDPOINT=$${SMS_ENDPOINT:-http://127.0.0.1:$(SMS_PORT)} \
	NOTIFICATION_CHANNELS=$${NOTIFICATION_CHANNELS:-sms,email} SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} \
		$(BIN)/honcho start --procfile Procfile --port $(PORT)

# In parallel: each file's tests on one worker, the tests marked xdist_group together (tests/conftest.py).
test: $(BIN)/.installed-dev translations
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# After changing user-facing text: extract it and merge it into the catalogues.
extract-messages: $(BIN)/.installed-runtime
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k _lp:1c,2 -k lazy_pgettext:1c,2 -k pgettext:1c,2 -k npgettext:1c,2,3 -w 100 -o produce_match/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel -q update -i produce_match/translations/messages.pot -d produce_match/translations --no-fuzzy-matching --ignore-obsolete -w 100

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .pytest_cache .ruff_cache
