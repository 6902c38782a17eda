#!/usr/bin/env bash
# Debian libraries the app needs at run time: pango for WeasyPrint (the PDF in bundles).
set -u
log() { printf 'system-deps: %s\n' "$*"; }
if ! ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0.so.0; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's pango for WeasyPrint (bundle PDFs)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null) || log "could not install pango"
  else
    log "pango is missing: install libpango-1.0-0 and libpangoft2-1.0-0 for PDF reports"
  fi
fi
exit 0
