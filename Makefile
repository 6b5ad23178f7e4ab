# pmtr — build, test and benchmark targets. See README.md.
GO      ?= go
PREFIX  ?= /usr/local
DESTDIR ?=
BIN     := bin/pmtr
FUZZTIME ?= 60s
# make test runs each fuzz target briefly on top of its seed corpus.
SHORTFUZZ ?= 3s
FUZZ_TARGETS := FuzzParse FuzzCore

.PHONY: build test vet fuzz fuzz-short bench install uninstall run clean

build:
	$(GO) build -o $(BIN) ./cmd/pmtr

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

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

run: build
	./$(BIN) -F -c examples/pmtr.conf

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/pmtr
	install -d $(DESTDIR)/etc
	@if [ ! -e $(DESTDIR)/etc/pmtr.conf ]; then install -m 0600 /dev/null $(DESTDIR)/etc/pmtr.conf; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/pmtr

clean:
	rm -rf bin
