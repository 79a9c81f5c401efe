#!/usr/bin/env bash
# Installs whatever a fresh Debian machine lacks for `make demo` and `make test`, and nothing
# that is already there: Debian packages (redis-server, Java, Maven, chromium for the tracer's
# browser tests), uv, the locked Python environment, the Kafka jars (Maven Central, cached
# outside git) and the tracer's npm packages. Safe to run again; fast when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v git >/dev/null 2>&1 || need_apt+=(git)
if [ -f tracer/package.json ] || [ -f pipelines/dashboard/web/package.json ]; then
  command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
fi
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then
  say "installing uv from PyPI"
  python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv 2>/dev/null \
    || python3 -m pip install --quiet uv
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
UV="uv"; command -v uv >/dev/null 2>&1 || UV="python3 -m uv"

say "syncing the Python environment from uv.lock"
$UV sync --frozen --quiet

say "resolving the Kafka broker jars (cached in ~/.cache/affiliate-analytics)"
$UV run --frozen python -m pipelines.local.engines fetch >/dev/null
$UV run --frozen python -m pipelines.local.engines fetch-spark-kafka >/dev/null

TOOLS="${AA_JAR_CACHE:-$HOME/.cache/affiliate-analytics}/bin"
if [ ! -x "$TOOLS/actionlint" ]; then
  say "installing actionlint (Go module proxy) into $TOOLS"
  GOBIN="$TOOLS" GOFLAGS=-mod=mod go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
fi
if [ ! -x "$TOOLS/hey" ]; then
  say "installing hey (Go module proxy; the collector benchmark's compiled HTTP load generator) into $TOOLS"
  GOBIN="$TOOLS" GOFLAGS=-mod=mod go install github.com/rakyll/hey@v0.1.4
fi

# DataHub's CLI for the catalog recipes: its own environment (its dbt extra pins a sqlglot the
# project's lock cannot share); the version is pipelines/catalog/__main__.py's DATAHUB_VERSION.
say "caching DataHub's CLI (acryl-datahub, isolated uv tool environment)"
$UV tool run --from 'acryl-datahub[dbt,snowflake]==1.7.0.17' datahub version >/dev/null

if [ -f tracer/package.json ]; then
  if [ ! -d tracer/node_modules ] || [ tracer/package-lock.json -nt tracer/node_modules/.package-lock.json ]; then
    say "installing the tracer's npm packages"
    npm --prefix tracer ci --no-audit --no-fund --loglevel=error
  fi
  [ -f tracer/dist/aa.js ] || npm --prefix tracer run --silent build >/dev/null
fi
DASH=pipelines/dashboard/web
if [ -f $DASH/package.json ]; then
  if [ ! -d $DASH/node_modules ] || [ $DASH/package-lock.json -nt $DASH/node_modules/.package-lock.json ]; then
    say "installing the dashboard's npm packages"
    npm --prefix $DASH ci --no-audit --no-fund --loglevel=error
  fi
  say "building the dashboard front end"
  npm --prefix $DASH run --silent build >/dev/null
fi
say "bootstrap complete"
