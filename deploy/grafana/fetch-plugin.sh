#!/bin/sh
# Fetch Grafana's ClickHouse data source plugin, at the version docker-compose.yml pins, into
# deploy/grafana/plugins/ for a host without internet: run this where there is internet, copy the
# directory over, then start with both files (docs/production.md, "Grafana without internet"):
#   docker compose -f docker-compose.yml -f docker-compose.offline.yml up -d
# OS and architecture are those of the Grafana container (linux, amd64 unless ARCH says arm64).
set -eu

PLUGIN=grafana-clickhouse-datasource
VERSION=4.15.0
ARCH="${ARCH:-amd64}"
HERE="$(cd "$(dirname "$0")" && pwd)"
TARGET="$HERE/plugins"
URL="https://grafana.com/api/plugins/$PLUGIN/versions/$VERSION/download?os=linux&arch=$ARCH"

mkdir -p "$TARGET"
ZIP="$(mktemp)"
trap 'rm -f "$ZIP"' EXIT
curl --fail --location --silent --show-error --output "$ZIP" "$URL"
rm -rf "${TARGET:?}/$PLUGIN"
# The archive holds one top-level directory named after the plugin.
unzip -q "$ZIP" -d "$TARGET"
test -f "$TARGET/$PLUGIN/plugin.json"
echo "$PLUGIN $VERSION ($ARCH) in $TARGET/$PLUGIN"
