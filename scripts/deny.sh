#!/usr/bin/env bash
# The supply chain, checked with cargo deny (installed from crates.io when missing): every
# dependency's licence is one deny.toml allows, every crate comes from crates.io, no wildcard
# versions; duplicate versions are listed as warnings.
#
# Advisories (RustSec) are not checked: their database is a git repository on GitHub, and this
# machine reaches crates.io, PyPI, Debian and npm only, none of which carries it. Where GitHub is
# reachable, `cargo deny check advisories` adds them. This says so rather than pretend.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-deny >/dev/null 2>&1; then
    cargo install cargo-deny --locked --version 0.20.2
fi
cargo deny check licenses bans sources
echo "deny: advisories not checked (the RustSec database is on GitHub, out of reach here)" >&2
