#!/usr/bin/env bash
# Example download job of ScanDownloadWorkflow: a lab edits it to fetch one session's scans.
#
# The worker submits it as
#     $SUBMIT_COMMAND $SUBMIT_OPTIONS $SUBMIT_SCRIPTS/download.sh <study> <session>
# e.g. `bash …/download.sh SPN01 SPN01_CMH_0001_01_01` (runs it now, on the worker) or
# `sbatch …/download.sh SPN01 SPN01_CMH_0001_01_01` (queues it on the cluster; the #SBATCH lines apply).
#
# Exit status: 0 = submitted/ran fine. Anything else = the submission failed; its stderr shows up in the
# monitor's failure (Temporal Web UI, pending activity). Either way the monitor checks the database for
# scans at the next attempt, with backoff, until the session has scans or the monitor's end time passes.
# A session never has two of these jobs at once: with sbatch the worker keeps the job id sbatch prints and
# submits nothing while `squeue` (JOB_STATUS_COMMAND) reports the job queued or running; the post-download
# job starts once this job has ended. On a worker shutdown a job run by bash gets SHUTDOWN_GRACE to finish,
# then SIGTERM (its whole process group), SIGKILL 10 s later, and is submitted again later.
#
# When the data has landed, register each scan with the service (that is what the monitor looks for);
# the registration also signals `scansArrived`, so the monitor finishes at once:
#     SCAN_MONITOR_URL    e.g. http://scan-monitor:3000 (unset: nothing is registered)
#     SCAN_MONITOR_TOKEN  set by the worker for this job: registers scans of this session only, and expires
#                         (JOB_TOKEN_LIFETIME). The job never gets API_TOKEN nor the service's other secrets, and
#                         what it prints is scrubbed of them before it shows up anywhere.
#
#SBATCH --job-name=scan-download
#SBATCH --time=01:00:00
#SBATCH --output=scan-download-%j.log
set -euo pipefail

study="${1:?usage: download.sh <study> <session>}"
session="${2:?usage: download.sh <study> <session>}"
echo "download.sh: fetching ${session} of study ${study}"

# json_text TEXT: TEXT escaped for a JSON string (backslashes, quotes, tabs and newlines).
json_text() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\n'/\\n}
  printf '%s' "$s"
}

# register_scan NAME SERIES TAG [DESCRIPTION]: POST /sessions/<session>/scans
register_scan() {
  if [ -z "${SCAN_MONITOR_URL:-}" ]; then
    echo "download.sh: SCAN_MONITOR_URL unset; not registering $1" >&2
    return 0
  fi
  local body
  body=$(printf '{"name":"%s","series":%d,"tag":"%s","description":"%s"}' "$(json_text "$1")" "$2" "$(json_text "$3")" "$(json_text "${4:-}")")
  curl -fsS -X POST "${SCAN_MONITOR_URL%/}/sessions/${session}/scans" \
    -H "Authorization: Bearer ${SCAN_MONITOR_TOKEN:?SCAN_MONITOR_TOKEN is unset: is API_TOKEN set on the worker?}" \
    -H 'Content-Type: application/json' \
    --data "$body"
  echo
}

# 1. Fetch the data. Replace with your lab's tool, e.g. datman's XNAT export:
#      dm_xnat_extract.py "$study" --experiment "$session"
# 2. Register what arrived, one call per scan, e.g.:
#      register_scan "${session}_T1_02_SagT1Bravo" 2 T1 "Sag T1 BRAVO"
#
# This example does neither; it only shows the shape.
echo "download.sh: edit scripts/jobs/download.sh to fetch and register the scans of ${session}"
