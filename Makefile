# pmtr — build, test and benchmark targets. See README.md.
GO      ?= go
PREFIX  ?= /usr/local
DESTDIR ?=
BIN     := bin/pmtr
FUZZTIME ?= 60s
# make test runs each fuzz target briefly on top of its seed corpus.
SHORTFUZZ ?= 3s
FUZZ_TARGETS := FuzzParse FuzzInclude FuzzCore FuzzControl FuzzVerify FuzzCtlRequest
# pmtr --version says this: the nearest tag and the commits since it (or
# the commit alone), "-dirty" with uncommitted changes.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

.PHONY: build test vet fuzz fuzz-short bench install uninstall run clean

# The binary is linked to a scratch name and copied: a cgo build is linked
# by the C linker, whose large writes leave the file's pages in the page
# cache as large folios, and a fault maps a whole folio, so a pmtr run
# from the fresh file kept ~3 MB more of its binary in memory than one run
# from a copy (docs/BENCHMARKS.md). install copies too.
build:
	$(GO) build -ldflags "-X main.buildStamp=$(VERSION)" -o $(BIN).link ./cmd/pmtr
	cp $(BIN).link $(BIN) && rm -f $(BIN).link

vet:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: vet
	$(GO) test -count=1 ./...
	$(MAKE) fuzz-short

fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		$(GO) test ./fuzz -run='^$$' -fuzz="^$$t$$" -fuzztime=$(SHORTFUZZ) || exit 1; \
	done

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		$(GO) test ./fuzz -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) || exit 1; \
	done

# make bench: Go benchmarks (parser, core, sim, then the real daemon), then
# the side-by-side harness; PEERS=1 installs and measures supervisord, runit
# and s6 too, PMTR_C=path adds the C pmtr (never in CI). Figures go in
# docs/BENCHMARKS.md.
PEERS ?=
PMTR_C ?=
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem ./confgrammar ./core ./sim ./live/...
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./cmd/pmtr
	@if [ -n "$(PEERS)" ]; then ./bench/install-peers.sh; fi
	$(GO) run ./bench -pmtr $(BIN) $(if $(PEERS),-peers) $(if $(PMTR_C),-pmtr-c $(PMTR_C))

# make run: the demo config, copied once to DEMO so that edits stay out of the tree.
DEMO ?= /tmp/pmtr-demo.conf
run: build
	@if [ ! -e $(DEMO) ]; then cp examples/pmtr.conf $(DEMO); echo "copied examples/pmtr.conf to $(DEMO): edit it while pmtr runs"; fi
	./$(BIN) -F -c $(DEMO)

BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man/man8
# systemd reads units from /usr/local/lib/systemd/system too; a distribution
# package sets UNITDIR=/lib/systemd/system (PREFIX=/usr).
UNITDIR ?= $(PREFIX)/lib/systemd/system
COMPDIR ?= $(PREFIX)/share/bash-completion/completions

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPDIR) $(DESTDIR)/etc
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/pmtr
	install -m 0644 docs/pmtr.8 $(DESTDIR)$(MANDIR)/pmtr.8
	install -m 0644 dist/pmtr.bash $(DESTDIR)$(COMPDIR)/pmtr
	sed 's|@BINDIR@|$(BINDIR)|' dist/pmtr.service > $(DESTDIR)$(UNITDIR)/pmtr.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/pmtr.service
	@# never overwrite an existing config
	@if [ ! -e $(DESTDIR)/etc/pmtr.conf ]; then install -m 0600 /dev/null $(DESTDIR)/etc/pmtr.conf; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pmtr $(DESTDIR)$(MANDIR)/pmtr.8 $(DESTDIR)$(UNITDIR)/pmtr.service $(DESTDIR)$(COMPDIR)/pmtr
	@echo "kept $(DESTDIR)/etc/pmtr.conf (your jobs); remove it by hand if you want"

clean:
	rm -rf bin
