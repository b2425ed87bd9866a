#!/usr/bin/env bash
# Builds stand-ins for the official images docker-compose.yml runs, from what a machine without Docker Hub reaches
# (Debian's apt, the Go module proxy, the npm registry), and prints the variables that make docker-compose.yml use
# them, one NAME=image a line (to append to .env):
#   local/debian:trixie              the base of the others: debootstrap --variant=minbase (with certificates, time
#                                    zones and nc), then docker import
#   local/postgres:17                Debian's PostgreSQL (deploy/local-images/postgres)
#   local/temporal-server:V          temporal-server, and the official image's entrypoint, from the server's module
#   local/temporal-admin-tools:V     temporal-sql-tool, the schema files and the `temporal` CLI
#   local/temporal-ui:V              the Web UI server (its module embeds the pages), the official config template
#   local/mailpit:V                  Mailpit, with its web pages
#   local/node:20                    Debian's Node.js 20 and npm: the app image's NODE_IMAGE
# The binaries are scripts/provision.sh's (built once, cached); the recipes are deploy/local-images/*/Dockerfile.
# Each image carries a hash of what went into it (label org.redcap-scan-monitor.inputs): a second run finds
# every image up to date and builds nothing. Needs a Docker engine, and root for debootstrap. The certificate
# authorities this machine added (/usr/local/share/ca-certificates) go into the base image.
# Usage: scripts/local-images.sh            (messages on stderr, the variables on stdout)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
recipes="$here/../deploy/local-images"
label=org.redcap-scan-monitor.inputs
suite=trixie # its nodejs is Node 20 (bookworm's is 18, older than package.json allows)
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
pg_major=17 # trixie's PostgreSQL
base_image="local/debian:$suite"

say() { echo "local-images: $*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

docker info >/dev/null 2>&1 ||
  fail "no Docker engine answers (\`docker info\` fails): start one (dockerd) and run again"

# Everything but the variables goes to stderr, builds' output too.
bash "$here/provision.sh" temporal-cli temporal-server >&2
eval "$(bash "$here/provision.sh" dirs)"
cli="${TEMPORAL_CLI_PATH:-$cli_dir/temporal}"
[ -x "$cli" ] || cli="$(command -v temporal)" || fail "no temporal CLI (scripts/provision.sh temporal-cli)"
# The official server image's entrypoint, from the module the server was built from.
[ -f "$server_module/docker/scripts/sh/entrypoint.sh" ] ||
  fail "go.temporal.io/server@v$server_version has no docker/scripts/sh/entrypoint.sh"

current_key() { docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null || true; }

# Certificate authorities added to this machine (Debian's place for them): the stand-ins trust what it trusts, so
# that HTTPS through a proxy that re-signs it (npm ci in the app image's build) works in them as it does here.
local_cas=(/usr/local/share/ca-certificates/*.crt)
[ -e "${local_cas[0]}" ] || local_cas=()

# What every stand-in needs, in the base: certificates, time zones, and nc (the official images' busybox has it; the
# compose file's healthcheck of Temporal and setup-schema.sh use it).
base_packages=ca-certificates,tzdata,netcat-openbsd

build_base() {
  local key dir
  key="$({
    printf 'debootstrap --variant=minbase --include=%s %s %s\n' "$base_packages" "$suite" "$mirror"
    [ ${#local_cas[@]} -eq 0 ] || sha256sum "${local_cas[@]}"
  } | sha256sum | cut -c1-16)"
  if [ "$(current_key "$base_image")" = "$key" ]; then say "$base_image: up to date"; return; fi
  command -v debootstrap >/dev/null || fail "debootstrap is not installed (Debian: apt-get install debootstrap)"
  [ "$(id -u)" = 0 ] || fail "debootstrap needs root"
  say "$base_image: debootstrap $suite (a minute or two) ..."
  dir="$(mktemp -d)"
  debootstrap --variant=minbase --include="$base_packages" "$suite" "$dir/root" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
    { tail -n 20 "$dir/debootstrap.log" >&2; rm -rf "$dir"; fail "debootstrap $suite failed"; }
  rm -rf "$dir"/root/var/cache/apt/archives/*.deb "$dir"/root/var/lib/apt/lists/*
  # Kept by update-ca-certificates whenever an image runs it again (installing ca-certificates does).
  [ ${#local_cas[@]} -eq 0 ] || {
    cp "${local_cas[@]}" "$dir/root/usr/local/share/ca-certificates/"
    chroot "$dir/root" update-ca-certificates >/dev/null
  }
  tar -C "$dir/root" -c . | docker import -c "LABEL $label=$key" -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' - "$base_image" >/dev/null
  rm -rf "$dir"
  say "$base_image: built"
}

# build_image IMAGE RECIPE [BUILD_ARG=VALUE | SOURCE:NAME]...: deploy/local-images/RECIPE, with each SOURCE (a file
# or a directory) in the build context as NAME. Built again only when the recipe, a source (by size and time) or
# the base image changed.
build_image() {
  local image="$1" recipe="$recipes/$2" key ctx item
  shift 2
  local args=(--build-arg "BASE_IMAGE=$base_image") sources=()
  for item in "$@"; do
    case "$item" in
      *=*) args+=(--build-arg "$item") ;;
      *) sources+=("$item") ;;
    esac
  done
  key="$({
    docker image inspect --format '{{.Id}}' "$base_image"
    printf '%s\n' "${args[@]}" "${sources[@]}"
    (cd "$recipe" && find . -type f | sort | xargs sha256sum)
    for item in "${sources[@]}"; do find -L "${item%%:*}" -type f -printf '%P %s %T@\n' | sort; done
  } | sha256sum | cut -c1-16)"
  if [ "$(current_key "$image")" = "$key" ]; then say "$image: up to date"; return; fi
  say "$image: building ..."
  ctx="$(mktemp -d "$cache_dir/local-images.XXXXXX")"
  cp -R "$recipe/." "$ctx/"
  for item in "${sources[@]}"; do
    mkdir -p "$(dirname "$ctx/${item#*:}")"
    # Hard links where the cache and the context share a file system: the binaries are hundreds of MB.
    cp -RL --link "${item%%:*}" "$ctx/${item#*:}" 2>/dev/null ||
      { rm -rf "${ctx:?}/${item#*:}" && cp -RL "${item%%:*}" "$ctx/${item#*:}"; }
  done
  docker build --label "$label=$key" "${args[@]}" -t "$image" "$ctx" >"$ctx.log" 2>&1 ||
    { tail -n 30 "$ctx.log" >&2; rm -rf "$ctx" "$ctx.log"; fail "docker build of $image failed"; }
  rm -rf "$ctx" "$ctx.log"
  say "$image: built"
}

cache_dir="$(dirname "$server_dir")"
# The Web UI server and Mailpit are built (Go: the CPU) while the Debian images are made (the network and disk).
bash "$here/provision.sh" temporal-ui-server mailpit >&2 &
go_builds=$!
trap 'kill "$go_builds" 2>/dev/null || true' EXIT
build_base
build_image "local/postgres:$pg_major" postgres "PG_MAJOR=$pg_major"
build_image "local/node:20" node
build_image "local/temporal-server:$server_version" temporal-server \
  "$server_dir/temporal-server:temporal-server" "$server_module/docker/scripts/sh/entrypoint.sh:entrypoint.sh"
build_image "local/temporal-admin-tools:$server_version" temporal-admin-tools \
  "$server_dir/temporal-sql-tool:temporal-sql-tool" "$server_dir/schema:schema" "$cli:temporal"
wait "$go_builds" || fail "scripts/provision.sh temporal-ui-server mailpit failed (above)"
trap - EXIT
build_image "local/temporal-ui:$ui_version" temporal-ui \
  "$ui_dir/ui-server:ui-server" "$ui_dir/start-ui-server.sh:start-ui-server.sh" "$ui_dir/config:config"
build_image "local/mailpit:$mailpit_version" mailpit "$mailpit_dir/mailpit:mailpit"

cat <<VARIABLES
POSTGRES_IMAGE=local/postgres:$pg_major
TEMPORAL_SERVER_IMAGE=local/temporal-server:$server_version
TEMPORAL_ADMIN_TOOLS_IMAGE=local/temporal-admin-tools:$server_version
TEMPORAL_UI_IMAGE=local/temporal-ui:$ui_version
MAILPIT_IMAGE=local/mailpit:$mailpit_version
NODE_IMAGE=local/node:20
VARIABLES
