#!/usr/bin/env bash
# Provisions the Temporal servers this project runs, without the SDK's own downloads:
#   temporal-cli   the Temporal CLI dev server (go install; embeds SQLite and the Web UI)
#   test-server    Temporal's time-skipping test server (Java, from Maven Central) and a wrapper to run it
#   docker-compose Docker Compose (go build), to check docker-compose.yml; skipped when `docker compose` works
#   temporal-server the production Temporal server and temporal-sql-tool at docker-compose.yml's version (go install),
#                   with the server's PostgreSQL schema files; for `npm run test:production` (not part of the default)
#   temporal-ui-server the Temporal Web UI server at docker-compose.yml's version (go install; its module embeds
#                   the built pages), with the official image's config template and start script
#   mailpit        the Mailpit mail catcher (go build, after building its web pages with npm from the module's
#                   own sources: the Go module does not carry them built)
#                   (these two for scripts/local-images.sh, not part of the default)
#   dirs           builds nothing: prints the versions and cache directories above as shell assignments, and
#                   server_module, the server's Go module source (its docker/ files)
# Builds are cached under ${XDG_CACHE_HOME:-$HOME/.cache}/redcap-scan-monitor, so a second run is instant.
# Usage: scripts/provision.sh [temporal-cli] [test-server] [docker-compose] [temporal-server] [temporal-ui-server] [mailpit] [dirs]
#        (no argument: the first three, what `npm test` needs)
# With PROVISION_OPTIONAL=1 a missing toolchain is a warning, not an error (npm start then lets the SDK download).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/redcap-scan-monitor"
cli_version="1.5.1"
cli_dir="$cache/temporal-cli-$cli_version"
test_server_version="$(sed -n 's:.*<version>\(1\.[0-9.]*\)</version>.*:\1:p' "$here/test-server/pom.xml" | head -n1)"
test_server_dir="$cache/temporal-test-server-$test_server_version"
compose_version="5.6.0" # keep in step with test/support/compose.ts
compose_dir="$cache/docker-compose-$compose_version"
# One source for the server version: the temporalio/server image of docker-compose.yml.
server_version="$(sed -n 's/.*temporalio\/server:\${TEMPORAL_VERSION:-\([0-9][0-9.]*\)}.*/\1/p' "$here/../docker-compose.yml" | head -n1)"
server_dir="$cache/temporal-server-$server_version"
ui_version="$(sed -n 's/.*temporalio\/ui:\${TEMPORAL_UI_VERSION:-\([0-9][0-9.]*\)}.*/\1/p' "$here/../docker-compose.yml" | head -n1)"
ui_dir="$cache/temporal-ui-server-$ui_version"
# docker-compose.yml runs axllent/mailpit:latest; scripts/local-images.sh builds this release instead, whose npm lock
# file installs from the npm registry this project reaches (1.33.1's names package versions that one lacks).
mailpit_version="1.27.11"
mailpit_dir="$cache/mailpit-$mailpit_version"

say() { echo "provision: $*" >&2; }
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "${PROVISION_OPTIONAL:-}" = 1 ]; then
    say "'$1' is not on PATH (needed to $2); skipping: the Temporal SDK will download what it needs instead."
    exit 0
  fi
  say "ERROR: '$1' is not on PATH; it is needed to $2. Install it (Debian: apt-get install $3) and run again."
  exit 1
}

# The directory of a Go module's source, downloaded through the module proxy (read-only, in Go's module cache).
go_module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

provision_temporal_cli() {
  if [ -n "${TEMPORAL_CLI_PATH:-}" ] && [ -x "$TEMPORAL_CLI_PATH" ]; then say "temporal CLI: $TEMPORAL_CLI_PATH (TEMPORAL_CLI_PATH)"; return; fi
  if [ -x "$cli_dir/temporal" ]; then say "temporal CLI: $cli_dir/temporal (cached)"; return; fi
  if command -v temporal >/dev/null 2>&1; then say "temporal CLI: $(command -v temporal) (PATH)"; return; fi
  need go "build the Temporal CLI dev server" golang-go
  say "building the Temporal CLI v$cli_version with go install (a few minutes, once) ..."
  mkdir -p "$cli_dir"
  GOBIN="$cli_dir" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@v$cli_version"
  say "temporal CLI: $cli_dir/temporal"
}

provision_test_server() {
  if [ -x "$test_server_dir/temporal-test-server" ] && [ -s "$test_server_dir/classpath" ]; then
    say "time-skipping test server: $test_server_dir/temporal-test-server (cached)"; return
  fi
  need java "run Temporal's time-skipping test server" openjdk-17-jre-headless
  need mvn "fetch Temporal's time-skipping test server from Maven Central" maven
  say "resolving io.temporal:temporal-test-server:$test_server_version from Maven Central ..."
  mkdir -p "$test_server_dir"
  mvn -q -B -Dstyle.color=never -f "$here/test-server/pom.xml" dependency:build-classpath -Dmdep.outputFile="$test_server_dir/classpath.tmp"
  mv "$test_server_dir/classpath.tmp" "$test_server_dir/classpath"
  # The SDK starts this as `<path> <port>` and allows a few seconds for the port to open:
  # C1-only JIT and a class-data-sharing archive keep a cold JVM well inside that.
  cat > "$test_server_dir/temporal-test-server" <<WRAPPER
#!/usr/bin/env bash
dir="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
cds=()
[ -s "\$dir/classes.jsa" ] && cds=(-XX:SharedArchiveFile="\$dir/classes.jsa" -Xshare:auto)
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "\${cds[@]}" -cp "\$(cat "\$dir/classpath")" io.temporal.testserver.TestServer "\$@"
WRAPPER
  chmod +x "$test_server_dir/temporal-test-server"
  build_class_data_archive
  say "time-skipping test server: $test_server_dir/temporal-test-server"
}

build_class_data_archive() {
  local port=$(( 20000 + RANDOM % 20000 ))
  java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ArchiveClassesAtExit="$test_server_dir/classes.jsa" \
    -cp "$(cat "$test_server_dir/classpath")" io.temporal.testserver.TestServer "$port" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -s "$test_server_dir/classes.jsa" ] || { rm -f "$test_server_dir/classes.jsa"; say "(no class-data archive; the test server starts a little slower)"; }
}

provision_docker_compose() {
  if docker compose version >/dev/null 2>&1; then say "docker compose: $(docker compose version --short) (docker CLI plugin)"; return; fi
  if [ ! -x "$compose_dir/docker-compose" ]; then
    need go "build Docker Compose, which checks docker-compose.yml" golang-go
    say "building Docker Compose v$compose_version with go build (a minute or two, once) ..."
    # Not `go install`: the module's go.mod has exclude directives, which go install refuses.
    local src work
    src="$(go_module_dir "github.com/docker/compose/v5@v$compose_version")"
    [ -d "$src" ] || { say "ERROR: could not download github.com/docker/compose/v5@v$compose_version"; exit 1; }
    work="$(mktemp -d)"
    cp -R "$src/." "$work" && chmod -R u+w "$work"
    mkdir -p "$compose_dir"
    (cd "$work" && go build -trimpath -o "$compose_dir/docker-compose.tmp" \
      -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=v$compose_version" ./cmd)
    mv "$compose_dir/docker-compose.tmp" "$compose_dir/docker-compose"
    rm -rf "$work"
  fi
  say "docker compose: $compose_dir/docker-compose"
  # Where a docker CLI is installed without Compose, make `docker compose` work too.
  if command -v docker >/dev/null 2>&1; then
    local plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
    mkdir -p "$plugins" && ln -sf "$compose_dir/docker-compose" "$plugins/docker-compose"
    say "docker compose: linked as a docker CLI plugin in $plugins"
  fi
}

# temporal-server (the frontend, history, matching and worker services in one binary), temporal-sql-tool, and
# schema/postgresql/v12/{temporal,visibility}/versioned from the same module, as the temporalio/server and
# temporalio/admin-tools images carry them (/usr/local/bin, /etc/temporal/schema). Cold: about 5 minutes and
# 2.5 GB of memory for the Go build.
provision_temporal_server() {
  [ -n "$server_version" ] || { say "ERROR: no temporalio/server:\${TEMPORAL_VERSION:-x.y.z} image in docker-compose.yml"; exit 1; }
  if [ -x "$server_dir/temporal-server" ] && [ -x "$server_dir/temporal-sql-tool" ] && [ -d "$server_dir/schema/postgresql/v12" ]; then
    say "temporal server: $server_dir (cached)"; return
  fi
  need go "build the Temporal server" golang-go
  say "building temporal-server and temporal-sql-tool v$server_version with go install (about 5 minutes, once) ..."
  local module="go.temporal.io/server@v$server_version" src bin
  src="$(go_module_dir "$module")"
  [ -d "$src/schema/postgresql/v12" ] || { say "ERROR: could not download $module (or it has no schema/postgresql/v12)"; exit 1; }
  bin="$(mktemp -d)"
  GOBIN="$bin" GOFLAGS=-mod=mod go install "go.temporal.io/server/cmd/server@v$server_version" "go.temporal.io/server/cmd/tools/sql@v$server_version"
  mkdir -p "$server_dir"
  rm -rf "$server_dir/schema.tmp" && mkdir -p "$server_dir/schema.tmp"
  cp -R "$src/schema/postgresql" "$server_dir/schema.tmp/" && chmod -R u+w "$server_dir/schema.tmp"
  rm -rf "$server_dir/schema" && mv "$server_dir/schema.tmp" "$server_dir/schema"
  mv "$bin/sql" "$server_dir/temporal-sql-tool"
  mv "$bin/server" "$server_dir/temporal-server" # last: its presence marks the target done
  rm -rf "$bin"
  say "temporal server: $server_dir (temporal-server, temporal-sql-tool, schema/postgresql/v12)"
}

# ui-server, and config/docker.yaml and start-ui-server.sh as the temporalio/ui image has them (/home/ui-server).
provision_temporal_ui_server() {
  [ -n "$ui_version" ] || { say "ERROR: no temporalio/ui:\${TEMPORAL_UI_VERSION:-x.y.z} image in docker-compose.yml"; exit 1; }
  if [ -x "$ui_dir/ui-server" ]; then say "temporal ui-server: $ui_dir (cached)"; return; fi
  need go "build the Temporal Web UI server" golang-go
  say "building the Temporal ui-server v$ui_version with go install (a minute or two, once) ..."
  local module="github.com/temporalio/ui-server/v2@v$ui_version" src bin
  src="$(go_module_dir "$module")"
  [ -f "$src/config/docker.yaml" ] || { say "ERROR: could not download $module (or it has no config/docker.yaml)"; exit 1; }
  bin="$(mktemp -d)"
  GOBIN="$bin" GOFLAGS=-mod=mod go install -ldflags "-s -w" "github.com/temporalio/ui-server/v2/cmd/server@v$ui_version"
  mkdir -p "$ui_dir/config"
  cp "$src/config/docker.yaml" "$ui_dir/config/docker.yaml"
  cp "$src/docker/start-ui-server.sh" "$ui_dir/start-ui-server.sh"
  chmod u+w "$ui_dir/config/docker.yaml" "$ui_dir/start-ui-server.sh"
  mv "$bin/server" "$ui_dir/ui-server" # last: its presence marks the target done
  rm -rf "$bin"
  say "temporal ui-server: $ui_dir"
}

provision_mailpit() {
  if [ -x "$mailpit_dir/mailpit" ]; then say "mailpit: $mailpit_dir/mailpit (cached)"; return; fi
  need go "build Mailpit" golang-go
  need npm "build Mailpit's web pages" npm
  say "building Mailpit v$mailpit_version: its web pages with npm, then go build (a few minutes, once) ..."
  local src work
  src="$(go_module_dir "github.com/axllent/mailpit@v$mailpit_version")"
  [ -f "$src/package-lock.json" ] || { say "ERROR: could not download github.com/axllent/mailpit@v$mailpit_version"; exit 1; }
  work="$(mktemp -d)"
  cp -R "$src/." "$work" && chmod -R u+w "$work"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error && npm run package)
  [ -s "$work/server/ui/dist/app.js" ] || { say "ERROR: Mailpit's web pages did not build (no server/ui/dist/app.js)"; exit 1; }
  mkdir -p "$mailpit_dir"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$mailpit_dir/mailpit.tmp" \
    -ldflags "-s -w -X github.com/axllent/mailpit/config.Version=v$mailpit_version" .)
  mv "$mailpit_dir/mailpit.tmp" "$mailpit_dir/mailpit"
  rm -rf "$work"
  say "mailpit: $mailpit_dir/mailpit"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(temporal-cli test-server docker-compose)
for target in "${targets[@]}"; do
  case "$target" in
    temporal-cli) provision_temporal_cli ;;
    test-server) provision_test_server ;;
    docker-compose) provision_docker_compose ;;
    temporal-server) provision_temporal_server ;;
    temporal-ui-server) provision_temporal_ui_server ;;
    mailpit) provision_mailpit ;;
    dirs)
      printf '%s=%q\n' cli_dir "$cli_dir" server_version "$server_version" server_dir "$server_dir" \
        ui_version "$ui_version" ui_dir "$ui_dir" mailpit_version "$mailpit_version" mailpit_dir "$mailpit_dir" \
        server_module "$(go_module_dir "go.temporal.io/server@v$server_version")" ;;
    *) say "unknown target '$target' (expected temporal-cli, test-server, docker-compose, temporal-server, temporal-ui-server, mailpit or dirs)"; exit 2 ;;
  esac
done
