# StreamSpace control plane.
#
#   make run        local control plane in the foreground (Ctrl-C stops it)
#   make dev-up     the same in the background; make dev-down stops it
#   make test       unit, storage and end-to-end tests (+ verify)
#
# Control-plane binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok) are built once from the Go module proxy
# into TOOLS_DIR, outside the work tree, so every clone on a machine shares
# them. Each tool set has a stamp named after its version.

SHELL := /bin/bash
.DEFAULT_GOAL := build

GO ?= go
BIN_DIR := $(CURDIR)/bin
DEV_DIR ?= $(CURDIR)/.dev

# Versions come from the tool modules' go.mod files.
# (a require line is either "require mod vX" or "mod vX" inside a block)
module-version = $(shell awk '$$1 == "require" { $$1 = "" } $$1 == "$(1)" || $$2 == "$(1)" { print ($$1 == "$(1)" ? $$2 : $$3); exit }' $(2))
KUBE_VERSION := $(call module-version,k8s.io/kubernetes,hack/tools/kube/go.mod)
ETCD_VERSION := $(call module-version,go.etcd.io/etcd/server/v3,hack/tools/etcd/go.mod)
KWOK_VERSION := $(call module-version,sigs.k8s.io/kwok,hack/tools/kwok/go.mod)
ifeq ($(KUBE_VERSION),)
$(error cannot read the kubernetes version from hack/tools/kube/go.mod)
endif
# $STREAMSPACE_TOOLS_DIR (what the tests read) overrides the shared cache.
TOOLS_DIR ?= $(or $(STREAMSPACE_TOOLS_DIR),$(HOME)/.cache/streamspace/tools/$(KUBE_VERSION))

KUBE_STAMP := $(TOOLS_DIR)/.stamp-kube-$(KUBE_VERSION)
ETCD_STAMP := $(TOOLS_DIR)/.stamp-etcd-$(ETCD_VERSION)
# kwok is built with one file of a dependency patched (a copy of the module
# with hack/tools/kwok/patched/easycel_types.go.txt as its types.go, replaced
# in a copy of hack/tools/kwok/go.mod; that file says what and why); the
# suffix makes caches that hold the unpatched build rebuild it.
KWOK_STAMP := $(TOOLS_DIR)/.stamp-kwok-$(KWOK_VERSION)-easycel-sync

# kube binaries report the version they are stamped with (a module build
# would otherwise say v0.0.0-master).
KUBE_MINOR := $(word 2,$(subst ., ,$(KUBE_VERSION)))
KUBE_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(KUBE_MINOR)

# kwok stages: nodes become Ready and keep a heartbeat; pods become Ready,
# complete and go away when deleted.
KWOK_STAGES := node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
	pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml

DEV := $(BIN_DIR)/streamspace-dev
# Extra streamspace-apiserver flags, e.g. make run STREAMSPACE_ARGS="--v=4"
STREAMSPACE_ARGS ?=
DEV_FLAGS := --dir $(DEV_DIR) --tools-dir $(TOOLS_DIR) --bin-dir $(BIN_DIR) \
	$(addprefix --streamspace-arg=,$(STREAMSPACE_ARGS))
TEST_ENV := STREAMSPACE_TOOLS_DIR=$(TOOLS_DIR) STREAMSPACE_BIN_DIR=$(BIN_DIR)
UNIT_TIMEOUT ?= 15m
E2E_TIMEOUT ?= 30m

.PHONY: build tools tool-binaries run dev-up dev-down dev-status generate verify test test-unit test-storage test-e2e bench bench-bridge bench-wire bench-audit bench-heartbeat bench-client bench-pool clean

## build: every command in cmd/ into bin/
build:
	$(GO) build -o $(BIN_DIR)/ ./cmd/...

## tools: the control-plane binaries into TOOLS_DIR (once per version)
# A stamp without its binaries (someone cleaned the cache) is dropped first.
tools:
	@$(call drop-stale-stamp,$(KUBE_STAMP),kube-apiserver kube-controller-manager kube-scheduler kubectl)
	@$(call drop-stale-stamp,$(ETCD_STAMP),etcd)
	@$(call drop-stale-stamp,$(KWOK_STAMP),kwok kwok-stages.yaml)
	@$(MAKE) --no-print-directory tool-binaries

tool-binaries: $(KUBE_STAMP) $(ETCD_STAMP) $(KWOK_STAMP)
	@:

drop-stale-stamp = for f in $(2); do [ -e $(TOOLS_DIR)/$$f ] || rm -f $(1); done

$(KUBE_STAMP):
	@mkdir -p $(TOOLS_DIR)
	@echo "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $(KUBE_VERSION) into $(TOOLS_DIR) (several minutes, once)"
	cd hack/tools/kube && $(GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $(TOOLS_DIR)/ \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
	@touch $@

$(ETCD_STAMP):
	@mkdir -p $(TOOLS_DIR)
	cd hack/tools/etcd && $(GO) build -trimpath -ldflags '-s -w' -o $(TOOLS_DIR)/etcd .
	@touch $@

$(KWOK_STAMP):
	@mkdir -p $(TOOLS_DIR)
	@set -e; cd hack/tools/kwok; b=$(TOOLS_DIR)/kwok-build; rm -rf $$b; mkdir -p $$b; \
	$(GO) mod download github.com/wzshiming/easycel; \
	cp -R "$$($(GO) list -m -f '{{.Dir}}' github.com/wzshiming/easycel)" $$b/easycel; chmod -R u+w $$b/easycel; \
	cp patched/easycel_types.go.txt $$b/easycel/types.go; \
	cp go.mod go.sum $$b/; echo "replace github.com/wzshiming/easycel v0.6.0 => $$b/easycel" >> $$b/go.mod
	cd hack/tools/kwok && $(GO) build -modfile $(TOOLS_DIR)/kwok-build/go.mod -trimpath -ldflags '-s -w' -o $(TOOLS_DIR)/kwok sigs.k8s.io/kwok/cmd/kwok
	@stages=$$(cd hack/tools/kwok && $(GO) list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage; \
	for f in $(KWOK_STAGES); do echo "---"; echo "# $$f (sigs.k8s.io/kwok $(KWOK_VERSION))"; cat $$stages/$$f; done > $(TOOLS_DIR)/kwok-stages.yaml
	@touch $@

$(BIN_DIR)/streamspace-dev: FORCE
	$(GO) build -o $@ ./cmd/streamspace-dev

## run: the local control plane in the foreground; Ctrl-C stops everything
run: tools build
	$(DEV) run $(DEV_FLAGS)

## dev-up: the local control plane in the background; returns when ready
dev-up: tools build
	$(DEV) up $(DEV_FLAGS)

## dev-down: stop what dev-up started
dev-down: $(BIN_DIR)/streamspace-dev
	$(DEV) down $(DEV_FLAGS)

dev-status: $(BIN_DIR)/streamspace-dev
	$(DEV) status $(DEV_FLAGS)

## generate: regenerate code (protobuf, deepcopy, clients, OpenAPI, ...); needs protoc
generate:
	hack/update-codegen.sh

## verify: fail when generated code is stale
verify:
	hack/verify-codegen.sh

## test: unit tests, storage conformance, end-to-end tests, verify
test: tools build test-unit test-storage test-e2e verify

test-unit: tools
	$(TEST_ENV) $(GO) test -count=1 -timeout $(UNIT_TIMEOUT) $$($(GO) list ./pkg/... ./internal/... | grep -v '/pkg/storage/')

test-storage:
	$(GO) test -count=1 -timeout $(UNIT_TIMEOUT) -v ./pkg/storage/...

test-e2e: tools build
	$(TEST_ENV) $(GO) test -count=1 -timeout $(E2E_TIMEOUT) -v ./test/e2e/...

## bench: StreamSpace vs the same Session as a CRD on one local control plane;
## rewrites the make bench section of docs/benchmarks.md (about 10 minutes)
BENCH_ARGS ?=
bench: tools build
	$(TEST_ENV) $(GO) run ./hack/bench --out $(CURDIR)/docs/benchmarks.md $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-bridge

## bench-bridge: 1,000 WebSocket clients of streamspace-bridge (alice and bob),
## write-to-delivery p50/p99/max; rewrites its section of docs/benchmarks.md
BENCH_BRIDGE_ARGS ?=
bench-bridge: tools build
	$(TEST_ENV) $(GO) run ./hack/bench-bridge --out $(CURDIR)/docs/benchmarks.md $(BENCH_BRIDGE_ARGS)

## bench-wire: LIST of 10,000 Sessions in JSON and in protobuf through the
## aggregator (bytes, wall time, server and client CPU), every round;
## rewrites its section of docs/benchmarks.md (a few minutes)
BENCH_WIRE_ARGS ?=
bench-wire: tools build
	$(TEST_ENV) $(GO) run ./hack/bench-wire --out $(CURDIR)/docs/benchmarks.md $(BENCH_WIRE_ARGS)

## bench-client: the independent check of make bench: its own simple client
## (client-go dynamic, JSON), rounds CRD, ours, ours, CRD of 10,000 Sessions,
## every round and each side's best of two; rewrites its section of
## docs/benchmarks.md (BENCH_CLIENT_ARGS="--objects 50000" for the large run)
BENCH_CLIENT_ARGS ?=
bench-client: tools build
	$(TEST_ENV) $(GO) run ./hack/bench-client --out $(CURDIR)/docs/benchmarks.md $(BENCH_CLIENT_ARGS)

## bench-pool: new sessions Running on a claimed SessionPool workload and
## cold, alternating rounds, seen by a watching client and by the
## controller's start-duration histogram (a few minutes)
BENCH_POOL_ARGS ?=
bench-pool: tools build
	$(TEST_ENV) $(GO) run ./hack/bench-pool $(BENCH_POOL_ARGS)

## bench-audit: Session creates from 16 clients through the aggregator with the
## audit trail in Postgres on and off, alternating rounds; checks audit_log and
## the audit metrics; rewrites its section of docs/benchmarks.md (a few minutes)
BENCH_AUDIT_ARGS ?=
bench-audit: tools build
	$(TEST_ENV) $(GO) run ./hack/bench-audit --out $(CURDIR)/docs/benchmarks.md $(BENCH_AUDIT_ARGS)

## bench-heartbeat: a fleet of 5,000, 10,000 and 20,000 viewers heartbeating every
## 30s through the aggregator, controller and bridge running; latency, CPU per
## heartbeat and table sizes; rewrites its section of docs/benchmarks.md (over
## 40 minutes; shorter: BENCH_HEARTBEAT_ARGS="--sizes 2000 --duration 1m")
BENCH_HEARTBEAT_ARGS ?=
bench-heartbeat: tools build
	$(TEST_ENV) $(GO) run ./hack/bench-heartbeat --out $(CURDIR)/docs/benchmarks.md $(BENCH_HEARTBEAT_ARGS)

clean:
	rm -rf $(BIN_DIR)

FORCE:
