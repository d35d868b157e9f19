#!/usr/bin/env bash
# Install or build what tests/unit/deploy needs to check the deployment artifacts of deploy/:
#   .local/tools/dockerfile-check  deploy/tools/dockerfile-check (BuildKit's Dockerfile linter)
#   .local/tools/compose-check     deploy/tools/compose-check (compose-spec loader, compose-go)
#   .local/tools/kustomize         sigs.k8s.io/kustomize (renders deploy/kubernetes)
#   systemd-analyze                Debian's systemd (verifies deploy/systemd)
# kubernetes-validate (Kubernetes JSON schemas, offline) is a Python dev dependency
# (pyproject.toml), installed by `make setup`. Go programs are built with the Go toolchain
# (/usr/local/go/bin or PATH) through the Go module proxy, and rebuilt only when their
# sources change (a stamp beside each binary): fast when already there. Idempotent.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.local/tools"
kustomize_version=v5.8.2
mkdir -p "$tools"

export PATH="$PATH:/usr/local/go/bin"
export GOTOOLCHAIN=local GOFLAGS=-trimpath
go_ok() { command -v go >/dev/null 2>&1; }

stamp_of() { # files...: one hash of their contents
  cat "$@" | sha256sum | cut -d' ' -f1
}

build_go_tool() { # NAME: deploy/tools/NAME -> .local/tools/NAME
  local name="$1" src="$root/deploy/tools/$1"
  local stamp
  stamp="$(stamp_of "$src/go.mod" "$src/go.sum" "$src"/*.go)"
  if [ -x "$tools/$name" ] && [ "$(cat "$tools/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  echo "building $name (first time: a few minutes)"
  (cd "$src" && go build -o "$tools/$name.partial" .)
  mv "$tools/$name.partial" "$tools/$name"
  echo "$stamp" >"$tools/$name.stamp"
}

if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: systemd-analyze missing: apt-get install -y systemd (as root)" >&2
    exit 1
  fi
  echo "installing systemd (systemd-analyze verifies deploy/systemd)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

if ! go_ok; then
  echo "error: the Go toolchain (1.26+) is missing: expected /usr/local/go/bin/go or go on PATH" >&2
  exit 1
fi
build_go_tool dockerfile-check
build_go_tool compose-check
if [ ! -x "$tools/kustomize" ] || [ "$(cat "$tools/kustomize.stamp" 2>/dev/null)" != "$kustomize_version" ]; then
  echo "building kustomize $kustomize_version"
  GOBIN="$tools" go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version"
  echo "$kustomize_version" >"$tools/kustomize.stamp"
fi
