#!/usr/bin/env bash
# Example post-download job of ScanDownloadWorkflow: runs once the session has scans (e.g. conversion
# to NIfTI/BIDS, QC). A lab edits it; set it per study/site with `postDownloadScript:` in the config.
#
# Submitted like the download job:
#     $SUBMIT_COMMAND $SUBMIT_OPTIONS $SUBMIT_SCRIPTS/post_download.sh <study> <session>
# Exit status 0 = done. Anything else fails the attempt (stderr is kept); the monitor tries it 10 times
# with backoff (1 minute doubling up to 1 hour), then fails with the last stderr. It starts only once the
# download job has ended; a run stopped by a worker shutdown (after SHUTDOWN_GRACE) is run again and does
# not count as one of the 10.
#
#SBATCH --job-name=scan-post-download
#SBATCH --time=02:00:00
#SBATCH --output=scan-post-download-%j.log
set -euo pipefail

study="${1:?usage: post_download.sh <study> <session>}"
session="${2:?usage: post_download.sh <study> <session>}"
echo "post_download.sh: processing ${session} of study ${study}"

# Replace with your lab's steps, e.g. datman:
#   dm_xnat_extract.py "$study" --experiment "$session" --use-dcm2bids
#   dm_qc_report.py "$study" --session "$session"
echo "post_download.sh: edit scripts/jobs/post_download.sh to process ${session}"
