#!/usr/bin/env bash
# Regenerates protobuf, deepcopy, defaulters, conversions, OpenAPI, clientset,
# listers, informers and apply configurations with k8s.io/code-generator.
# Needs protoc on PATH (Debian's protobuf-compiler; .ci/run installs it).
set -o errexit
set -o nounset
set -o pipefail

SCRIPT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${SCRIPT_ROOT}"
THIS_PKG="github.com/streamspace/controlplane"
# The generators are installed into GOBIN; keep them out of the tree.
export GOBIN="${GOBIN:-$(go env GOPATH)/bin}"

if ! command -v protoc >/dev/null; then
  echo "hack/update-codegen.sh: protoc is not on PATH; install it (Debian: apt-get install protobuf-compiler, as .ci/run does)" >&2
  exit 1
fi

# module_dir prints the directory of a module of go.mod's build list. go list
# answers an empty Dir for a module that is not in the module cache yet, so
# the module is downloaded first.
module_dir() {
  local dir
  go mod download "$1"
  dir="$(go list -m -f '{{.Dir}}' "$1")"
  if [[ -z "${dir}" || ! -d "${dir}" ]]; then
    echo "hack/update-codegen.sh: module $1 is not in the module cache ($(go env GOMODCACHE)) after go mod download" >&2
    return 1
  fi
  echo "${dir}"
}

if [[ -z "${CODEGEN_PKG:-}" ]]; then
  CODEGEN_PKG="$(module_dir k8s.io/code-generator)"
fi
source "${CODEGEN_PKG}/kube_codegen.sh"

# Protobuf for every package marked +k8s:protobuf-gen=package, as Kubernetes
# does it: go-to-protobuf writes generated.proto, protoc with protoc-gen-gogo
# turns it into generated.pb.go, and the protobuf struct tags are written back
# into the Go types. protoc finds imported .proto files by Go import path, so
# a directory of symlinks maps those paths to this tree and the module cache.
gen_protobuf() {
  local pkgs=() dir
  while IFS= read -r dir; do
    pkgs+=("${THIS_PKG}/${dir}")
    # A stale generated.pb.go could keep the package from type-checking.
    rm -f "${dir}/generated.proto" "${dir}/generated.pb.go"
  done < <(grep -rl --include='*.go' -e '^// +k8s:protobuf-gen=package' pkg | xargs -r -n1 dirname | sort -u)
  if ((${#pkgs[@]} == 0)); then
    return
  fi

  local apimachinery_dir api_dir gogo_dir
  apimachinery_dir="$(module_dir k8s.io/apimachinery)"
  api_dir="$(module_dir k8s.io/api)"
  gogo_dir="$(module_dir github.com/gogo/protobuf)"
  IMPORT_ROOT="$(mktemp -d)"
  trap 'rm -rf "${IMPORT_ROOT}"' EXIT
  mkdir -p "${IMPORT_ROOT}/$(dirname "${THIS_PKG}")" "${IMPORT_ROOT}/k8s.io" "${IMPORT_ROOT}/github.com/gogo"
  ln -s "${SCRIPT_ROOT}" "${IMPORT_ROOT}/${THIS_PKG}"
  ln -s "${apimachinery_dir}" "${IMPORT_ROOT}/k8s.io/apimachinery"
  ln -s "${api_dir}" "${IMPORT_ROOT}/k8s.io/api"
  ln -s "${gogo_dir}" "${IMPORT_ROOT}/github.com/gogo/protobuf"

  # Versions come from go.mod (hack/tools.go pins them).
  go install \
    k8s.io/code-generator/cmd/go-to-protobuf \
    k8s.io/code-generator/cmd/go-to-protobuf/protoc-gen-gogo \
    golang.org/x/tools/cmd/goimports

  # Types of these packages are only referenced, never generated: their
  # generated.proto is already in the module cache. ("-" means no output.)
  local referenced=(
    -k8s.io/apimachinery/pkg/util/intstr
    -k8s.io/apimachinery/pkg/api/resource
    -k8s.io/apimachinery/pkg/runtime/schema
    -k8s.io/apimachinery/pkg/runtime
    -k8s.io/apimachinery/pkg/apis/meta/v1
    -k8s.io/api/core/v1
  )
  # go-to-protobuf runs protoc, which runs protoc-gen-gogo, and then goimports,
  # all from PATH. gogo.proto imports google/protobuf/descriptor.proto, which
  # gogo/protobuf carries too (Debian ships it only in libprotobuf-dev).
  PATH="${GOBIN}:${PATH}" "${GOBIN}/go-to-protobuf" \
    --go-header-file "${SCRIPT_ROOT}/hack/boilerplate.go.txt" \
    --output-dir "${IMPORT_ROOT}" \
    --proto-import "${gogo_dir}/protobuf" \
    --apimachinery-packages "$(IFS=,; echo "${referenced[*]}")" \
    --packages "$(IFS=,; echo "${pkgs[*]}")"
}
gen_protobuf

kube::codegen::gen_helpers \
    --boilerplate "${SCRIPT_ROOT}/hack/boilerplate.go.txt" \
    --extra-peer-dir "${THIS_PKG}/pkg/apis/stream" \
    --extra-peer-dir "${THIS_PKG}/pkg/apis/stream/v1alpha1" \
    "${SCRIPT_ROOT}/pkg/apis"

kube::codegen::gen_openapi \
    --output-dir "${SCRIPT_ROOT}/pkg/generated/openapi" \
    --output-pkg "${THIS_PKG}/pkg/generated/openapi" \
    --report-filename "${SCRIPT_ROOT}/hack/api-rules-violations.list" \
    --update-report \
    --output-model-name-file "zz_generated.model_name.go" \
    --boilerplate "${SCRIPT_ROOT}/hack/boilerplate.go.txt" \
    "${SCRIPT_ROOT}/pkg/apis"

# --prefers-protobuf: the typed clients send and ask for protobuf (accepting
# JSON too), as client-go's clients of the built-in types do; every type of
# these groups has a protobuf encoding (above), which costs the clients and the
# server much less to encode and decode than JSON.
kube::codegen::gen_client \
    --prefers-protobuf \
    --with-watch \
    --with-applyconfig \
    --applyconfig-openapi-schema <(go run "${THIS_PKG}/hack/models-schema") \
    --output-dir "${SCRIPT_ROOT}/pkg/generated" \
    --output-pkg "${THIS_PKG}/pkg/generated" \
    --boilerplate "${SCRIPT_ROOT}/hack/boilerplate.go.txt" \
    "${SCRIPT_ROOT}/pkg/apis"
