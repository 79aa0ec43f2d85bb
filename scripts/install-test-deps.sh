#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine (run as root).
#
# Idempotent: every step first checks whether its result is already there and skips
# itself if so, so a second run takes a few seconds. Prints what each step did and
# how long it took.
#
#   scripts/install-test-deps.sh            # apt packages, crane, oras, cosign, referrers-registry, npm ci, /etc/hosts
#   (cosign is built with go install: several minutes cold on 2 cores, skipped once present;
#   the attestation tests verify with it)
#
# The Kubernetes test bed (kube-apiserver, kubectl, etcd v1.37.2 and Tekton's CRDs, for
# test/kube/) is built by scripts/build-k8s-testbed.sh: 5-10 min cold on 2 cores, seconds
# once built (it checks the versions and skips itself).
#
# Go tools land in .tools/bin (project-local, never on the machine's PATH); the tests
# look for them there first.
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
TOOLS_BIN="$TOOLS/bin"

# Pinned versions. The Go modules' own go.mod decide the minimum Go toolchain
# (oras v1.3.6 wants go >= 1.26.7); GO_VERSION is used only when no usable Go exists.
CRANE_VERSION="v0.22.1"
ORAS_VERSION="v1.3.6"
COSIGN_VERSION="v2.6.5"
GO_VERSION="1.26.8"
# Debian 12 packages. uidmap is a dependency of buildah anyway; listed so rootless use works too.
# socat is for bench/ only: a TLS-terminating relay written in C, the floor the proxy is measured against.
# mmdebstrap makes the image test's Node.js base from Debian trixie packages (bookworm's
# debian-archive-keyring already holds trixie's keys); prometheus is there for promtool, which
# checks deploy/monitoring's alert rules (the service itself is never started by the tests).
APT_PACKAGES=(docker-registry skopeo buildah podman apache2-utils postgresql openssl curl iptables uidmap ca-certificates socat
  mmdebstrap debian-archive-keyring prometheus)
# Hostnames the interop tests give the registries and the token server. Go clients never
# send loopback names through a proxy, so a real hostname that resolves to 127.0.0.1 is needed.
TEST_HOSTS=(registry.test)

SCRIPT_START=$(date +%s)
SUMMARY=()

log() { printf '[install-test-deps] %s\n' "$*"; }

# step NAME FUNCTION: runs FUNCTION, records what it reported and how long it took.
step() {
  local name="$1" fn="$2" started outcome
  started=$(date +%s.%N)
  log "── $name"
  # Not `$fn || ...`: bash ignores set -e inside a function called from such a context.
  set +e
  outcome="$(
    set -e
    $fn
  )"
  local rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    log "FAILED: $name (exit $rc)"
    exit "$rc"
  fi
  local took
  took=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  log "   $outcome (${took}s)"
  SUMMARY+=("$(printf '%-22s %7ss  %s' "$name" "$took" "$outcome")")
}

require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "run as root (apt-get, /etc/hosts)" >&2
    return 1
  fi
  # Debian 12 ships Node 18; the project needs 20+, which machines of this kind already have.
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$node_major" -lt 20 ]; then
    echo "Node.js 20 or later is required (found: $(node --version 2>/dev/null || echo none))" >&2
    return 1
  fi
  if [ -r /etc/debian_version ]; then
    echo "root on Debian $(cat /etc/debian_version), node $(node --version)"
  else
    echo "root (not Debian: apt steps may fail), node $(node --version)"
  fi
}

# Another apt-get/dpkg (e.g. a machine image still provisioning) holds the dpkg lock;
# starting a second one would fail or interleave. Wait for it, bounded.
wait_for_other_apt() {
  local waited=0 limit=600
  while pgrep -x apt-get >/dev/null || pgrep -x apt >/dev/null || pgrep -x dpkg >/dev/null; do
    if [ "$waited" -ge "$limit" ]; then
      echo "another apt-get/dpkg is still running after ${limit}s" >&2
      return 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
  echo "no other apt/dpkg running (waited ${waited}s)"
}

missing_apt_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s ' "$p"
    fi
  done
}

install_apt_packages() {
  local missing
  missing="$(missing_apt_packages)"
  if [ -z "$missing" ]; then
    echo "all ${#APT_PACKAGES[@]} packages already installed"
    return 0
  fi
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  } >&2
  echo "installed: $missing"
}

# Go >= 1.21 switches toolchains by itself (GOTOOLCHAIN=auto) to whatever the module
# being installed asks for, so any such Go will do. Older or no Go: fetch a pinned one.
ensure_go() {
  local v
  if command -v go >/dev/null 2>&1; then
    v="$(go env GOVERSION 2>/dev/null || true)"
    v="${v#go}"
    if [ -n "$v" ] && printf '%s\n%s\n' "1.21" "$v" | sort -V -C; then
      echo "using go $v at $(command -v go)"
      return 0
    fi
  fi
  if [ -x "$TOOLS/go/bin/go" ]; then
    echo "using go at $TOOLS/go"
    return 0
  fi
  mkdir -p "$TOOLS"
  curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -xz -C "$TOOLS"
  echo "downloaded go ${GO_VERSION} into $TOOLS/go"
}

go_cmd() {
  if command -v go >/dev/null 2>&1 && [ ! -x "$TOOLS/go/bin/go" ]; then
    go "$@"
  else
    "$TOOLS/go/bin/go" "$@"
  fi
}

# go_install NAME MODULE VERSION VERSION_ARGS...: installs unless NAME in .tools/bin
# already reports VERSION.
go_install() {
  local name="$1" module="$2" version="$3"
  shift 3
  local bin="$TOOLS_BIN/$name"
  if [ -x "$bin" ] && "$bin" "$@" 2>/dev/null | grep -q -- "${version#v}"; then
    echo "$name $version already in .tools/bin"
    return 0
  fi
  mkdir -p "$TOOLS_BIN"
  GOBIN="$TOOLS_BIN" GOFLAGS="${GOFLAGS:-} -trimpath" go_cmd install "$module@$version" >&2
  echo "built $name $version into .tools/bin"
}

install_crane() { go_install crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION" version; }
install_oras() { go_install oras oras.land/oras/cmd/oras "$ORAS_VERSION" version; }

install_k8s_testbed() {
  # Its summary lines on one line, for this script's summary.
  bash "$ROOT/scripts/build-k8s-testbed.sh" | paste -sd ';' -
}

install_cosign() {
  # Needed: test/interop/attestations.test.ts verifies the proxy's attestations with it.
  go_install cosign github.com/sigstore/cosign/v2/cmd/cosign "$COSIGN_VERSION" version
}

install_referrers_registry() {
  # test/tools/referrers-registry: go-containerregistry's registry with the OCI 1.1 referrers API
  # on, over TLS (the attestation tests' second registry). Rebuilt when its source is newer.
  local src="$ROOT/test/tools/referrers-registry" bin="$TOOLS_BIN/referrers-registry"
  if [ -x "$bin" ] && [ "$bin" -nt "$src/main.go" ] && [ "$bin" -nt "$src/go.mod" ] && [ "$bin" -nt "$src/go.sum" ]; then
    echo "referrers-registry already in .tools/bin"
    return 0
  fi
  mkdir -p "$TOOLS_BIN"
  (cd "$src" && GOFLAGS="${GOFLAGS:-} -trimpath" go_cmd build -o "$bin" .) >&2
  echo "built referrers-registry into .tools/bin"
}

install_node_modules() {
  cd "$ROOT"
  # A shared node_modules (a symlink, e.g. from a git worktree) belongs to its owner: npm ci
  # would empty the directory it points to under everyone using it.
  if [ -L node_modules ]; then
    echo "node_modules is a symlink to $(readlink node_modules): left alone"
    return 0
  fi
  # npm keeps a copy of the lock it installed as node_modules/.package-lock.json.
  if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] &&
    npm ls --depth=0 >/dev/null 2>&1; then
    echo "node_modules match package-lock.json"
    return 0
  fi
  npm ci --no-audit --no-fund >&2
  echo "npm ci done"
}

add_test_hosts() {
  local h added=""
  for h in "${TEST_HOSTS[@]}"; do
    if ! grep -Eq "^[[:space:]]*127\.0\.0\.1([[:space:]].*)?[[:space:]]$h([[:space:]]|\$)" /etc/hosts; then
      # Append in place: /etc/hosts is often a bind mount that cannot be replaced by rename.
      printf '127.0.0.1 %s\n' "$h" >>/etc/hosts
      added="$added $h"
    fi
  done
  if [ -n "$added" ]; then echo "added to /etc/hosts:$added"; else echo "/etc/hosts already maps ${TEST_HOSTS[*]}"; fi
}

check_tools() {
  local t missing=""
  for t in docker-registry skopeo buildah podman htpasswd openssl curl mmdebstrap promtool; do
    command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
  done
  for t in crane oras cosign referrers-registry kube-apiserver kubectl etcd; do
    [ -x "$TOOLS_BIN/$t" ] || missing="$missing $t"
  done
  if [ -n "$missing" ]; then
    echo "missing after install:$missing" >&2
    return 1
  fi
  echo "$(skopeo --version | head -1); $(buildah --version | cut -d' ' -f1-3); $(podman --version); $(docker-registry --version | cut -d' ' -f2-); $(promtool --version 2>&1 | head -1 | cut -d' ' -f1-3); crane $("$TOOLS_BIN/crane" version); oras $("$TOOLS_BIN/oras" version | awk '/^Version/ { print $2 }')"
}

step "preflight" require_root
step "wait for apt" wait_for_other_apt
step "apt packages" install_apt_packages
step "go toolchain" ensure_go
step "crane" install_crane
step "oras" install_oras
step "k8s test bed" install_k8s_testbed
step "cosign" install_cosign
step "referrers registry" install_referrers_registry
step "node modules" install_node_modules
step "/etc/hosts" add_test_hosts
step "check" check_tools

log "done in $(($(date +%s) - SCRIPT_START))s:"
for line in "${SUMMARY[@]}"; do log "  $line"; done
