# acs-connector build. `make run` and `make test` are the two commands a fresh
# machine needs; everything they depend on is installed by the targets below.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/acs-connector/acs-connector/host/internal/buildinfo.Version=$(VERSION)
PLUGINS   := csvdir shopify sql
PREFIX    ?= /usr/local
DESTDIR   ?=
SYSCONFDIR ?= /etc
UNITDIR   ?= /etc/systemd/system

# Generator versions are pinned so `make proto` is reproducible.
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
TOOLS := $(CURDIR)/.tools

.PHONY: all build plugins run test test-short bench proto proto-tools install clean fmt vet

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/acs-connector ./host/cmd/acs-connector
	@for p in $(PLUGINS); do \
		if [ -d plugins/$$p ]; then \
			$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/acs-plugin-$$p ./plugins/$$p || exit 1; \
		fi; \
	done
	@# Pin what was just built: the host refuses plugin binaries without a pin.
	@$(BIN)/acs-connector plugins install --dir $(BIN) $(BIN)/acs-plugin-* >/dev/null

# run: the daemon on embedded defaults (Stripe emulator, SQLite, sample catalog).
run: build
	$(BIN)/acs-connector run --config configs/example.yaml

# test: every test, with a throwaway PostgreSQL and headless Chromium installed as needed.
test: build
	bash .ci/test.sh

bench: build
	bash .ci/bench.sh

proto-tools:
	@command -v protoc >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: proto-tools
	PATH=$(TOOLS):$$PATH protoc -I proto \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/connector/v1/connector.proto

# install: binaries, pinned plugins, the systemd unit and a config that
# works from the installed paths. Honours PREFIX and DESTDIR.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/acs-connector/plugins \
		$(DESTDIR)$(PREFIX)/share/acs-connector $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/acs-connector
	install -m 0755 $(BIN)/acs-connector $(DESTDIR)$(PREFIX)/bin/acs-connector
	$(BIN)/acs-connector plugins install --dir $(DESTDIR)$(PREFIX)/lib/acs-connector/plugins $(BIN)/acs-plugin-*
	cp -R configs/sample-catalog $(DESTDIR)$(PREFIX)/share/acs-connector/
	sed -e 's#@PREFIX@#$(PREFIX)#g' -e 's#@SYSCONFDIR@#$(SYSCONFDIR)#g' configs/acs-connector.service > $(DESTDIR)$(UNITDIR)/acs-connector.service
	sed -e 's#\.\./bin/#$(PREFIX)/lib/acs-connector/plugins/#' \
		-e 's#dir: sample-catalog#dir: $(PREFIX)/share/acs-connector/sample-catalog#' \
		-e 's#\.\./var/state#/var/lib/acs-connector#g' \
		configs/example.yaml > $(DESTDIR)$(SYSCONFDIR)/acs-connector/config.yaml.example
	chmod 0640 $(DESTDIR)$(SYSCONFDIR)/acs-connector/config.yaml.example

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN) $(TOOLS)
