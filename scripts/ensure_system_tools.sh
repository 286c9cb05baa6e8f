#!/usr/bin/env bash
# Installs the system tools ingestion uses when they are missing, from Debian's packages: Tesseract (OCR of images
# and scanned PDF pages) and LibreOffice headless (legacy Office and ODF conversion). `apt-get update` runs once,
# only when something is missing. With --best-effort a failure (no root, no apt) is a warning, not an error. With
# --browser also Chromium, which the console's browser tests drive (Playwright cannot download its own here).
set -euo pipefail
best_effort=false
browser=false
for arg in "$@"; do
  case "$arg" in
    --best-effort) best_effort=true ;;
    --browser) browser=true ;;
  esac
done

missing=()
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
{ command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx eng; } || missing+=(tesseract-ocr-eng)
command -v soffice >/dev/null || missing+=(libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui)
if $browser; then command -v chromium >/dev/null || missing+=(chromium); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "system tools: tesseract, libreoffice$($browser && echo ", chromium") present"
  exit 0
fi
echo "system tools: installing ${missing[*]}"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  if $best_effort; then
    echo "warning: could not install ${missing[*]}; images, scans and legacy Office files will be rejected" >&2
    exit 0
  fi
  echo "could not install ${missing[*]} (the tests need them)" >&2
  exit 1
fi
