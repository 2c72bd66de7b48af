# Autoencoders from scratch: the two quickstart commands are `make test` and `make course`.
# Every target creates the course's virtual environment (.venv) from pyproject.toml when it is
# missing or older than pyproject.toml.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# optional extras on top of dev: CI adds browser (Playwright) for the real-browser tests
EXTRAS ?= dev
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# nbgrader runs `alembic` as a program: the environment's bin/ goes first on PATH
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# the shared MNIST beside the checkout, when present and nothing else was set
SHARED_MNIST := $(abspath $(CURDIR)/../shared/data/mnist)
ifeq ($(AUTOENCODER_NP_DATA),)
ifneq ($(wildcard $(SHARED_MNIST)/t10k-images-idx3-ubyte.gz),)
export AUTOENCODER_NP_DATA := $(SHARED_MNIST)
endif
endif

.PHONY: help venv test test-fast course course-fast site lab release autograde feedback grades student-release bench distributed-trial clean

help:
	@echo "make test      run the whole test suite (library, lectures in fast mode, grading)"
	@echo "make test-fast the library and packaging tests only (under 30 s)"
	@echo "make course    build the course: demo, lectures -> build/lectures/*.html, exercises, autograde the solutions"
	@echo "make course-fast   the same in fast mode (small data, few epochs)"
	@echo "make site      the course website build/site/ from the lectures make course executed (make course ends with it)"
	@echo "make lab       JupyterLab at the lectures, in the course's environment"
	@echo "make release | autograde | feedback | grades     instructor commands (nbgrader)"
	@echo "make student-release   build/student/ (+ zip): the students' repository, without solutions"
	@echo "make bench     speed benchmark against PyTorch (installs the optional 'bench' extra)"
	@echo "make distributed-trial   a private Redis + PostgreSQL and two grading workers on this machine"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# the library and packaging only (no kernel, server or browser): under 30 s
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

course: $(STAMP)
	$(PY) -m tools.course

course-fast: $(STAMP)
	$(PY) -m tools.course --fast

site: $(STAMP)
	$(PY) -m tools.site

lab: $(STAMP)
	$(VENV)/bin/jupyter lab lectures

release: $(STAMP)
	$(VENV)/bin/aegrade release

autograde: $(STAMP)
	$(VENV)/bin/aegrade autograde $(if $(SUBMITTED),--submitted $(SUBMITTED),)

feedback: $(STAMP)
	$(VENV)/bin/aegrade feedback

grades: $(STAMP)
	$(VENV)/bin/aegrade grades --out grades.csv

student-release: $(STAMP)
	$(PY) -m tools.student_release $(if $(PROBLEM_SETS),--problem-sets $(PROBLEM_SETS),)

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) benchmarks/bench_training.py

# grading on Celery workers, tried on one machine (installs the optional 'distributed' extra)
distributed-trial: $(STAMP)
	$(PY) -m pip install --quiet -e ".[$(EXTRAS),distributed]"
	$(PY) -m aegrade.distributed.trial --course $(CURDIR)

clean:
	rm -rf build .pytest_cache
