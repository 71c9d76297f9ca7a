#!/usr/bin/env bash
# Starts a built Chairside with a throw-away data folder, runs the demo for a few seconds, saves a
# screenshot and checks that it quit by itself with the journal intact.
set -euo pipefail
app=${1:-dist/chairside/chairside}
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
export CHAIRSIDE_DATA_DIR="$data" CHAIRSIDE_CONFIG_DIR="$data/config" QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
timeout 120 "$app" --db "$data/chairside.sqlite" --demo 2 --speed 120 --preroll 60 --nurse AB --screenshot "$data/shot.png" --quit-after 5
test -s "$data/shot.png"
cp "$data/shot.png" "${SMOKE_SCREENSHOT:-/dev/null}" 2>/dev/null || true
"$app" verify --db "$data/chairside.sqlite"
"$app" protocols show ocrevus-600-subsequent --json > /dev/null
# The libraries added since the first build: cryptography (the station key, signed anchors and
# manifests), the PDF export and its check (pypdf), the station configuration (TOML).
key=$("$app" keys public)
"$app" keys anchor --db "$data/chairside.sqlite" > /dev/null
"$app" export --db "$data/chairside.sqlite" --from 2000-01-01 --to 2100-01-01 --format pdf -o "$data/shift.pdf" > /dev/null
"$app" verify --db "$data/chairside.sqlite" --export "$data/shift.pdf" --public-key "$key"
printf '[station]\nname = "Smoke"\n\n[[chairs]]\nname = "Chair 1"\n' > "$data/station.toml"
"$app" config check --config "$data/station.toml"
echo "smoke test passed: $app"
