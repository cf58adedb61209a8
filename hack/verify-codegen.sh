#!/usr/bin/env bash
# Fails when the generated code is not what hack/update-codegen.sh produces now.
set -o errexit
set -o nounset
set -o pipefail

SCRIPT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TMP="$(mktemp -d)"
trap 'rm -rf "${TMP}"' EXIT

# Generate into a copy of the tree so the work tree is never touched.
git -C "${SCRIPT_ROOT}" ls-files -co --exclude-standard -z | (cd "${SCRIPT_ROOT}" && xargs -0 cp --parents -t "${TMP}" 2>/dev/null || true)
"${TMP}/hack/update-codegen.sh"
if diff -Naupr "${SCRIPT_ROOT}/pkg" "${TMP}/pkg" >"${TMP}.diff" && \
   diff -u "${SCRIPT_ROOT}/hack/api-rules-violations.list" "${TMP}/hack/api-rules-violations.list" >>"${TMP}.diff"; then
  echo "generated code is up to date"
  rm -f "${TMP}.diff"
else
  cat "${TMP}.diff"
  rm -f "${TMP}.diff"
  echo "generated code is out of date: run hack/update-codegen.sh" >&2
  exit 1
fi
