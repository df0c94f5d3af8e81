# shellcheck shell=bash
# Debian packages the tests need: headless Chromium and its driver for the browser tests (never
# a downloaded browser), IPAex fonts that every PDF embeds, poppler-utils to read PDFs back as
# text and images, and aiosmtpd, the SMTP server the reminder tests send mail to. Sourced by
# scripts/test; installs what is missing and fails loudly if it cannot.
DEBIAN_PACKAGES=(chromium chromium-driver fonts-ipaexfont poppler-utils python3-aiosmtpd)

ensure_debian_packages() {
  local missing=()
  local p
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  echo "== installing ${missing[*]} (Debian packages)"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    echo "error: cannot install ${missing[*]}; the browser and document tests need them" >&2
    return 1
  fi
  command -v chromedriver >/dev/null 2>&1 || { echo "error: chromedriver still missing" >&2; return 1; }
  command -v pdftotext >/dev/null 2>&1 || { echo "error: pdftotext still missing" >&2; return 1; }
}
