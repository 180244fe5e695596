#!/usr/bin/env bash
# Re-vendors the studio's third-party browser files from the npm registry, at the pinned versions below, into
# static/vendor/ (licences included), then rewrites VENDOR.sha256. Nothing is built: the files are copied as
# published (redoc gets one URL rewritten, below). Run from anywhere: bash functions/openpeek/studio/vendor.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent preact@10.29.8 htm@3.1.1 swagger-ui-dist@5.35.0 redoc@2.5.4 >/dev/null
for tarball in *.tgz; do mkdir -p "${tarball%.tgz}"; tar xzf "$tarball" -C "${tarball%.tgz}"; done
rm -rf "$vendor" && mkdir -p "$vendor"/{preact,htm,swagger-ui,redoc}
cp preact-10.29.8/package/dist/preact.module.js preact-10.29.8/package/hooks/dist/hooks.module.js \
   preact-10.29.8/package/LICENSE "$vendor/preact/"
cp htm-3.1.1/package/dist/htm.module.js htm-3.1.1/package/LICENSE "$vendor/htm/"
cp swagger-ui-dist-5.35.0/package/{swagger-ui-bundle.js,swagger-ui.css,LICENSE,NOTICE} "$vendor/swagger-ui/"
cp redoc-2.5.4/package/bundles/redoc.standalone.js redoc-2.5.4/package/bundles/redoc.standalone.js.LICENSE.txt \
   redoc-2.5.4/package/LICENSE "$vendor/redoc/"
# Offline: redoc's "powered by" badge would load its logo from a CDN; point it at the studio's own icon instead.
sed -i 's#https://cdn.redoc.ly/redoc/logo-mini.svg#/studio/favicon.svg#' "$vendor/redoc/redoc.standalone.js"
cd "$here/static" && find vendor -type f | LC_ALL=C sort | xargs sha256sum > "$here/VENDOR.sha256"
echo "vendored into $vendor; checksums in $here/VENDOR.sha256"
