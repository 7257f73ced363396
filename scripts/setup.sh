#!/usr/bin/env bash
# Install what docservice needs on a fresh Debian machine: Debian packages
# (LibreOffice, poppler, fonts, SoftHSM2, NSS tools, Chromium) and a Python
# virtualenv with the project. Idempotent: does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  libreoffice-writer-nogui python3-uno   # DOCX -> PDF over UNO
  poppler-utils                          # pdftoppm previews, pdfsig second opinion
  mupdf-tools                            # mutool draw: second renderer for the visual check
  fonts-dejavu fonts-liberation2 fonts-crosextra-carlito  # metric-compatible fonts
  softhsm2 libnss3-tools                 # PKCS#11 seal in tests, pdfsig trust store
  chromium                               # end-to-end browser tests
  python3-venv                           # `python3 -m venv` on a Debian Python
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# axe-core for the accessibility checks of tests/e2e, pinned by package-lock.json.
if ! command -v npm >/dev/null; then
  echo "setup: installing Debian packages: nodejs npm"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
npm_stamp=node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$npm_stamp" ]; then
  echo "setup: installing npm packages (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$npm_stamp"
fi
