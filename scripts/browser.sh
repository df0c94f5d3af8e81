# shellcheck shell=bash
# The real-browser tests need Debian's headless Chromium and its driver (never a downloaded
# browser). Sourced by scripts/test; installs them when missing and fails loudly if it cannot.
ensure_browser() {
  if command -v chromedriver >/dev/null 2>&1 && [ -x /usr/bin/chromium ]; then
    return 0
  fi
  echo "== installing chromium and chromium-driver (Debian packages)"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
    echo "error: cannot install chromium and chromium-driver; the browser tests need them" >&2
    return 1
  fi
  command -v chromedriver >/dev/null 2>&1 || { echo "error: chromedriver still missing" >&2; return 1; }
}
