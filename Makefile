# livedesk-webhookd: build, run, check, install, bench, fuzz.
#
# Layout: every src/*.c but main.c goes into $(BUILD)/libld.a, which the daemon
# and every test links; src/send/*.c is the livedesk-send client. The Check
# suites: tests/unit/check_*.c call a module's functions in-process,
# tests/e2e/check_*.c drive the real programs from outside (the daemon on
# loopback, livedesk-send, make install); tests/tools/tool_*.c are helper
# programs they start (mock servers, clients); tests/testutil.[ch] serve
# them all. Suites and tools build flat into $(BUILD)/tests/ by their names.

VERSION    := 0.1.0
BUILD      ?= build
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
UNITDIR    ?= /lib/systemd/system
DESTDIR    ?=

CC       ?= cc
SAN      ?=
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
            -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2
DEFS     := -D_GNU_SOURCE -DLD_VERSION=\"$(VERSION)\"
INCS     := -Iinclude -Isrc
ifneq ($(SAN),)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all
endif
# Each binary compiles and links against its own packages: livedesk-send
# needs only jansson and libcurl, and builds without the daemon's -dev
# packages. pkg-config runs once per make, when a recipe first needs it, and
# a package it cannot find stops the build with pkg-config's own words.
PKGS      := libmicrohttpd jansson inih libsystemd libcrypto libcurl hiredis
SEND_PKGS := jansson libcurl
pkgconf    = $(strip $(eval _pc := $(shell pkg-config $(1) $(2) 2>&1 || echo @FAILED@))$(if \
             $(findstring @FAILED@,$(_pc)),$(error pkg-config $(1) $(2): \
             $(subst @FAILED@,,$(_pc)) (run 'make deps' to install what is missing)),$(_pc)))
# Deferred, then kept: each is worked out at most once per make.
PKG_CFLAGS  = $(eval PKG_CFLAGS := $(call pkgconf,--cflags,$(PKGS)))$(PKG_CFLAGS)
PKG_LIBS    = $(eval PKG_LIBS := $(call pkgconf,--libs,$(PKGS)))$(PKG_LIBS)
SEND_CFLAGS = $(eval SEND_CFLAGS := $(call pkgconf,--cflags,$(SEND_PKGS)))$(SEND_CFLAGS)
SEND_LIBS   = $(eval SEND_LIBS := $(call pkgconf,--libs,$(SEND_PKGS)))$(SEND_LIBS)
CHECK_LIBS  = $(eval CHECK_LIBS := $(call pkgconf,--libs,check))$(CHECK_LIBS)
BASE_CFLAGS = $(WARN) $(DEFS) $(INCS) $(CFLAGS) $(SANFLAGS)
ALL_CFLAGS  = $(BASE_CFLAGS) $(PKG_CFLAGS)
LDLIBS_ALL  = $(PKG_LIBS) -lpthread -lm
LDFLAGS  ?=
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS) -Wl,--as-needed

# Debian packages: to build, to test, to benchmark.
DEPS_SEND  := gcc make libc6-dev pkg-config libjansson-dev libcurl4-openssl-dev
DEPS_BUILD := $(DEPS_SEND) libmicrohttpd-dev libinih-dev libsystemd-dev \
              libssl-dev libhiredis-dev
# The tests that put nginx and Caddy in front, render the man pages and
# verify the units need these: they fail, never skip, without them; the
# operator page's browser test (check_admin_browser) needs chromium.
DEPS_CHECK := check libsubunit-dev curl valgrind systemd redis-server \
              nginx-light caddy openssl groff-base python3 python3-yaml \
              prometheus chromium chromium-driver python3-selenium
DEPS_BENCH := wrk webhook curl redis-server

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
SEND_SRC := $(wildcard src/send/*.c)
SEND_OBJ := $(SEND_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/check_*.c)
E2E_SRC  := $(wildcard tests/e2e/check_*.c)
CHECK_ALL := $(sort $(notdir $(UNIT_SRC:.c=) $(E2E_SRC:.c=)))
# The longest suites first: run.sh starts them in this order, a few at a
# time, and a long suite started last would be the run's tail.
CHECK_LONG := $(filter $(CHECK_ALL),check_backlog check_redis_worker \
              check_redis check_persist_e2e check_limits check_spool \
              check_persist check_cli check_send check_service \
              check_admin_browser check_install)
CHECKS   := $(addprefix $(BUILD)/tests/,$(CHECK_LONG) \
            $(filter-out $(CHECK_LONG),$(CHECK_ALL)))
TOOL_SRC := $(wildcard tests/tools/tool_*.c)
TOOLS    := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
TESTUTIL := $(BUILD)/tests/testutil.o

DAEMON   := $(BUILD)/livedesk-webhookd
SEND     := $(BUILD)/livedesk-send

# Keep the test objects between runs (make would delete them as
# intermediates and rebuild them every time).
.SECONDARY:

.PHONY: all deps deps-send deps-check run check check-build test check-asan \
        check-valgrind install uninstall bench fuzz clean deb check-deb

# Plain make only builds; `make deps` installs what is missing (apt-get, as
# root), and run, check, bench and fuzz call it first.
all: $(DAEMON) $(if $(SEND_SRC),$(SEND))

deps:
	@scripts/deps.sh $(DEPS_BUILD)

deps-send:
	@scripts/deps.sh $(DEPS_SEND)

deps-check: deps
	@scripts/deps.sh $(DEPS_CHECK)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/src/send/%.o: src/send/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SEND_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libld.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(DAEMON): $(BUILD)/src/main.o $(BUILD)/libld.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(SEND): $(SEND_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SEND_LIBS) -lm

# The suites and tools include "testutil.h" from tests/.
$(BUILD)/tests/%.o: INCS += -Itests

# Each suite or tool links from its object under tests/unit, tests/e2e or
# tests/tools (static pattern rules: make searches no implicit chains).
LINK_TEST = $(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL) $(CHECK_LIBS)
$(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%): $(BUILD)/tests/%: \
    $(BUILD)/tests/unit/%.o $(TESTUTIL) $(BUILD)/libld.a
	$(LINK_TEST)
$(E2E_SRC:tests/e2e/%.c=$(BUILD)/tests/%): $(BUILD)/tests/%: \
    $(BUILD)/tests/e2e/%.o $(TESTUTIL) $(BUILD)/libld.a
	$(LINK_TEST)
$(TOOLS): $(BUILD)/tests/%: $(BUILD)/tests/tools/%.o $(TESTUTIL) \
    $(BUILD)/libld.a
	$(LINK_TEST)
# The Redis suites share a redis-server of their own (tests/e2e/redisutil.c).
$(BUILD)/tests/check_redis $(BUILD)/tests/check_redis_worker: \
    $(BUILD)/tests/e2e/redisutil.o

run: deps
	@$(MAKE) --no-print-directory all
	$(DAEMON) $(ARGS)

check-build: deps-check $(DAEMON) $(if $(SEND_SRC),$(SEND)) $(CHECKS) $(TOOLS)

# Runs every suite against the binaries of $(BUILD); CK_FORK stays on so that
# a crash in one test is reported, not fatal to the run.
test: check-build
	@BUILD=$(BUILD) tests/run.sh $(CHECKS)

# Both builds first, then every suite of both side by side (tests/run.sh):
# the suites mostly wait on their daemons, so the wall time is the longest
# suite's, not the sum. Each suite's two builds go one after the other, so
# the longest of both start first. One closing line counts both.
NPROC := $(shell nproc 2>/dev/null || echo 2)
check: deps-check
	$(MAKE) -j$(NPROC) check-build
	$(MAKE) -j$(NPROC) check-build BUILD=build/asan SAN=1 OPT=-O1
	@BUILD=$(BUILD) tests/run.sh $(foreach c,$(CHECKS),$(c) \
	    $(c:$(BUILD)/%=build/asan/%))

check-valgrind: deps-check
	$(MAKE) check-build BUILD=build/vg OPT=-O1
	BUILD=build/vg VALGRIND=1 LD_VALGRIND_DAEMON=1 LD_SEND_VALGRIND=1 \
	    tests/run.sh $(patsubst $(BUILD)/%,build/vg/%,$(CHECKS))

# Install: the daemon in SBINDIR (a system daemon, section 8), livedesk-send
# in BINDIR, the units, the example configuration (never over an existing
# one), the example scripts and reverse-proxy snippets, the manual pages.
# The units in systemd/ name the default paths; the installed copies name
# the ones chosen here.
INSTALL    ?= install
CONFDIR    := $(SYSCONFDIR)/livedesk-webhookd
CONFFILE   := $(CONFDIR)/livedesk-webhookd.conf
PKGDATADIR := $(DATADIR)/livedesk-webhookd
UNITS      := systemd/livedesk-webhookd.service systemd/livedesk-webhookd.socket
EXAMPLES   := $(wildcard conf/examples/*)
PROXIES    := conf/nginx/livedesk-webhookd.conf conf/caddy/Caddyfile
# The monitoring kit: Prometheus alert rules, the Grafana dashboard.
MONITORING := conf/prometheus/alerts.yml conf/grafana/livedesk-webhookd.json
MANPAGES   := $(wildcard man/*.1 man/*.5 man/*.8)
PATH_SED   := -e 's|/usr/local/sbin/livedesk-webhookd|$(SBINDIR)/livedesk-webhookd|g' \
              -e 's|/usr/local/share/livedesk-webhookd/|$(PKGDATADIR)/|g' \
              -e 's|/etc/livedesk-webhookd/|$(CONFDIR)/|g'

install: $(DAEMON) $(if $(SEND_SRC),$(SEND))
	$(INSTALL) -d "$(DESTDIR)$(SBINDIR)" "$(DESTDIR)$(UNITDIR)" \
		"$(DESTDIR)$(CONFDIR)" "$(DESTDIR)$(PKGDATADIR)/examples" \
		"$(DESTDIR)$(PKGDATADIR)/nginx" "$(DESTDIR)$(PKGDATADIR)/caddy" \
		"$(DESTDIR)$(PKGDATADIR)/prometheus" "$(DESTDIR)$(PKGDATADIR)/grafana"
	$(INSTALL) -d -m 0700 "$(DESTDIR)$(CONFDIR)/credentials"
	$(INSTALL) -m 0755 $(DAEMON) "$(DESTDIR)$(SBINDIR)/livedesk-webhookd"
ifneq ($(SEND_SRC),)
	$(INSTALL) -d "$(DESTDIR)$(BINDIR)"
	$(INSTALL) -m 0755 $(SEND) "$(DESTDIR)$(BINDIR)/livedesk-send"
endif
	@set -e; for f in $(UNITS:%=%:$(UNITDIR)) \
	    conf/livedesk-webhookd.conf:$(PKGDATADIR); do \
		src=$${f%%:*}; t="$(DESTDIR)$${f#*:}/$${src##*/}"; \
		echo "sed ... $$src > $$t"; \
		sed $(PATH_SED) "$$src" >"$$t.tmp"; \
		chmod 0644 "$$t.tmp"; mv -f "$$t.tmp" "$$t"; \
	done
	@if [ -e "$(DESTDIR)$(CONFFILE)" ]; then \
		echo "install: keeping $(DESTDIR)$(CONFFILE); the new example is $(PKGDATADIR)/livedesk-webhookd.conf"; \
	else \
		echo "cp $(DESTDIR)$(PKGDATADIR)/livedesk-webhookd.conf $(DESTDIR)$(CONFFILE)"; \
		$(INSTALL) -m 0644 "$(DESTDIR)$(PKGDATADIR)/livedesk-webhookd.conf" "$(DESTDIR)$(CONFFILE)"; \
	fi
	@set -e; for f in $(EXAMPLES); do \
		m=0644; [ -x "$$f" ] && m=0755; \
		echo "$(INSTALL) -m $$m $$f $(DESTDIR)$(PKGDATADIR)/examples/"; \
		$(INSTALL) -m $$m "$$f" "$(DESTDIR)$(PKGDATADIR)/examples/"; \
	done
	$(INSTALL) -m 0644 conf/nginx/livedesk-webhookd.conf "$(DESTDIR)$(PKGDATADIR)/nginx/"
	$(INSTALL) -m 0644 conf/caddy/Caddyfile "$(DESTDIR)$(PKGDATADIR)/caddy/"
	$(INSTALL) -m 0644 conf/prometheus/alerts.yml "$(DESTDIR)$(PKGDATADIR)/prometheus/"
	$(INSTALL) -m 0644 conf/grafana/livedesk-webhookd.json "$(DESTDIR)$(PKGDATADIR)/grafana/"
	@set -e; for m in $(MANPAGES); do \
		d="$(DESTDIR)$(MANDIR)/man$${m##*.}"; \
		echo "$(INSTALL) -m 0644 $$m $$d/"; \
		$(INSTALL) -d "$$d"; $(INSTALL) -m 0644 "$$m" "$$d/"; \
	done

# Removes what install put there; the configuration only when it is still
# the example, so that nobody's settings go with it.
uninstall:
	@if [ -e "$(DESTDIR)$(CONFFILE)" ]; then \
		if cmp -s "$(DESTDIR)$(PKGDATADIR)/livedesk-webhookd.conf" "$(DESTDIR)$(CONFFILE)"; then \
			echo "rm -f $(DESTDIR)$(CONFFILE)"; rm -f "$(DESTDIR)$(CONFFILE)"; \
		else \
			echo "uninstall: keeping $(DESTDIR)$(CONFFILE): it was changed"; \
		fi; \
	fi
	rm -f "$(DESTDIR)$(SBINDIR)/livedesk-webhookd" \
		"$(DESTDIR)$(BINDIR)/livedesk-send" \
		$(foreach u,$(UNITS),"$(DESTDIR)$(UNITDIR)/$(notdir $(u))") \
		$(foreach e,$(EXAMPLES),"$(DESTDIR)$(PKGDATADIR)/examples/$(notdir $(e))") \
		$(foreach p,$(PROXIES) $(MONITORING),"$(DESTDIR)$(PKGDATADIR)/$(p:conf/%=%)") \
		"$(DESTDIR)$(PKGDATADIR)/livedesk-webhookd.conf" \
		$(foreach m,$(MANPAGES),"$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))")
	@for d in "$(DESTDIR)$(PKGDATADIR)/examples" "$(DESTDIR)$(PKGDATADIR)/nginx" \
	    "$(DESTDIR)$(PKGDATADIR)/caddy" "$(DESTDIR)$(PKGDATADIR)/prometheus" \
	    "$(DESTDIR)$(PKGDATADIR)/grafana" "$(DESTDIR)$(PKGDATADIR)" \
	    "$(DESTDIR)$(CONFDIR)/credentials" "$(DESTDIR)$(CONFDIR)"; do \
		[ ! -d "$$d" ] || rmdir "$$d" 2>/dev/null || \
			echo "uninstall: keeping $$d: not empty"; \
	done

# Debian packages (debian/): livedesk-webhookd and livedesk-send, built
# with dpkg-buildpackage into build/deb/. check-deb builds them, runs
# lintian, installs them on this machine, checks and runs what they
# installed, purges them (scripts/check-deb.sh; root, not part of check).
DEPS_DEB := dpkg-dev debhelper devscripts lintian fakeroot
DEB_OUT  := livedesk-webhookd_$(VERSION)_*.deb livedesk-send_$(VERSION)_*.deb \
            livedesk-webhookd-dbgsym_$(VERSION)_*.deb \
            livedesk-send-dbgsym_$(VERSION)_*.deb \
            livedesk-webhookd_$(VERSION)_*.buildinfo \
            livedesk-webhookd_$(VERSION)_*.changes

deb:
	@scripts/deps.sh $(DEPS_BUILD) $(DEPS_DEB)
	@rm -rf build/deb
	DEB_BUILD_OPTIONS="parallel=2 $(DEB_BUILD_OPTIONS)" dpkg-buildpackage -us -uc -b
	@mkdir -p build/deb
	@# dpkg-buildpackage writes next to the source tree; the results move here.
	@set -e; cd .. && for f in $(DEB_OUT); do \
		[ ! -e "$$f" ] || mv -f "$$f" "$(CURDIR)/build/deb/"; \
	done
	@ls build/deb

check-deb: deb
	@scripts/deps.sh curl systemd
	scripts/check-deb.sh build/deb

# libFuzzer harnesses (fuzz/fuzz_NAME.c), built with clang against the
# library sources instrumented for coverage, ASan and UBSan; each runs for
# FUZZ_TIME seconds on build/fuzz/corpus-NAME, seeded from fixtures/ (and
# conf/ for the configuration; for http, the raw requests of
# fuzz/seeds-http/ and each fixture as a POST with the token of
# fuzz/fuzz_http.c), with fuzz/NAME.dict when there is one. FUZZ_TARGETS
# picks some (event config signature http), e.g. to run them in parallel
# from separate makes. Crashes land in build/fuzz/ as crash-*: each
# becomes a test in tests/unit/ (tests/e2e/check_http.c for http).
FUZZ_TIME    ?= 60
FUZZ_TARGETS ?= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_CC      ?= clang
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_OBJ     := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
DEPS_FUZZ    := clang libclang-rt-14-dev

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(WARN) $(DEFS) $(INCS) $(FUZZ_FLAGS) \
		-fsanitize=fuzzer-no-link -MMD -MP \
		$(PKG_CFLAGS) -c -o $@ $<


$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/fuzz/fuzz_%.o $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_ALL)

fuzz:
	@scripts/deps.sh $(DEPS_BUILD) $(DEPS_FUZZ)
	$(MAKE) $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
		c=$(FUZZ_BUILD)/corpus-$$t; mkdir -p $$c; \
		if [ $$t = http ]; then \
			cp fuzz/seeds-http/* $$c/; \
			for f in fixtures/*.json; do \
				{ printf 'POST /webhook/fuzz-token HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' \
				    $$(wc -c <$$f); cat $$f; } \
				    >$$c/post-$$(basename $$f .json); \
			done; \
		else \
			cp fixtures/*.json $$c/ 2>/dev/null; \
		fi; \
		[ $$t != config ] || cp conf/*.conf conf/*/*.conf $$c/ 2>/dev/null; \
		d=; [ ! -f fuzz/$$t.dict ] || d=-dict=fuzz/$$t.dict; \
		echo "fuzz: $$t for $(FUZZ_TIME)s (log $(FUZZ_BUILD)/$$t.log)"; \
		$(FUZZ_BUILD)/fuzz_$$t $$d -max_total_time=$(FUZZ_TIME) \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ \
			-rss_limit_mb=2048 -timeout=10 $$c \
			>$(FUZZ_BUILD)/$$t.log 2>&1 || \
			{ tail -n 40 $(FUZZ_BUILD)/$$t.log; exit 1; }; \
		grep -E '^#[0-9]+.*(DONE|cov:)' $(FUZZ_BUILD)/$$t.log | tail -n 1; \
		grep -E '^stat::(number_of_executed_units|peak_rss)' \
			$(FUZZ_BUILD)/$$t.log; \
	done

# Benchmarks, not tests: the daemon against the floor (bench/floor.c) and
# adnanh/webhook under wrk; the table goes to bench/results/ (bench/run.sh).
# BENCH_SECONDS, BENCH_REPEAT, BENCH_ONLY, ... change the runs (see run.sh).
BENCH_TOOLS := $(BUILD)/bench/floor $(BUILD)/bench/parse $(BUILD)/bench/ready

$(BUILD)/bench/floor: $(BUILD)/bench/floor.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/bench/ready: $(BUILD)/bench/ready.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^

$(BUILD)/bench/parse: $(BUILD)/bench/parse.o $(BUILD)/libld.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

bench: deps $(DAEMON) $(BENCH_TOOLS)
	@scripts/deps.sh $(DEPS_BENCH)
	BUILD=$(BUILD) bench/run.sh
	BUILD=$(BUILD) bench/redis.sh | tee bench/results/redis-latest.txt

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
