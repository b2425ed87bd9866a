#!/bin/sh
# One-shot job of docker-compose.yml (service temporal-setup, image temporalio/admin-tools), run once the
# Temporal server is up: creates the namespace the service uses and registers the search attributes ops
# filter the Web UI with (SessionId="SPN01_CMH_0001_01_01"). The temporalio/server image does neither.
# Safe to run again: an existing namespace is kept, and creating a search attribute that exists with the
# same type succeeds. Each step is retried while the server finishes starting.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS must name the Temporal frontend, e.g. temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_RETENTION:-720h}"

retry() { # what, command...
  what="$1"
  shift
  attempt=0
  until "$@"; do
    attempt=$((attempt + 1))
    if [ "$attempt" -ge 60 ]; then
      echo "Gave up: $what" >&2
      return 1
    fi
    echo "Waiting to $what (attempt $attempt)..."
    sleep 2
  done
}

namespace_exists_or_created() {
  temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1 ||
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
}

retry "reach the Temporal server at $TEMPORAL_ADDRESS" temporal operator cluster health
retry "create the namespace $NAMESPACE" namespace_exists_or_created
# A namespace just created takes a few seconds to reach every service: the retries cover that too.
retry "register the search attributes SessionId, StudyId and SiteId" \
  temporal operator search-attribute create --namespace "$NAMESPACE" \
  --name SessionId --type Keyword \
  --name StudyId --type Keyword \
  --name SiteId --type Keyword
# The server reads new search attributes into its cache within a minute (dynamicconfig.yaml leaves it that way,
# as Temporal advises for production): wait until a query that names all three is accepted, so that the API
# and the worker, which start after this job, can use them at once.
probe='SessionId = "setup-probe" AND StudyId = "setup-probe" AND SiteId = "setup-probe"'
retry "see the search attributes in use" temporal workflow list --namespace "$NAMESPACE" --query "$probe" --limit 1
echo "Namespace $NAMESPACE is ready, with the search attributes SessionId, StudyId and SiteId"
