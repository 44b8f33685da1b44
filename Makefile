# The two commands a newcomer needs:   make run   (the site at http://127.0.0.1:5000)
#                                      make test  (the whole test suite)
# Both create the virtual environment and install requirements.txt on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
PYTEST_ARGS ?=

.PHONY: run test lint translations extract-messages clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

translations: $(BIN)/.installed
	$(BIN)/pybabel -q compile -d produce_match/translations

run: translations
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# After changing user-facing text: extract it and merge it into the catalogues.
extract-messages: $(BIN)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k _lp:1c,2 -k lazy_pgettext:1c,2 -k pgettext:1c,2 -k npgettext:1c,2,3 -w 100 -o produce_match/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel -q update -i produce_match/translations/messages.pot -d produce_match/translations --no-fuzzy-matching --ignore-obsolete -w 100

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
