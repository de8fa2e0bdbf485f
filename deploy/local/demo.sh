#!/usr/bin/env bash
# The main job (README): installs what is missing, starts the local Kafka + Redis, two workers,
# replays the real Online Retail stream with London weather, and prints what was ingested.
# RECSTREAM_DATA points at another copy of the data sets; extra arguments go to `recstream demo`
# (e.g. --limit 50000, --workers 1, or --source synthetic --path "").
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/setup.sh
DATA=${RECSTREAM_DATA:-../shared/data}
retail="$DATA/online_retail/online_retail_2010-12-01_2011-08-31.csv.gz"
weather="$DATA/weather/london_heathrow_daily_2010-2011.csv"
if [ "$#" -eq 0 ]; then
  for f in "$retail" "$weather"; do
    [ -f "$f" ] || { echo "demo: data file missing: $f (set RECSTREAM_DATA)" >&2; exit 1; }
  done
  exec .venv/bin/recstream demo --source online-retail --path "$retail" --weather "$weather"
fi
exec .venv/bin/recstream demo "$@"
