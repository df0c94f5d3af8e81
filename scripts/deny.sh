#!/usr/bin/env bash
# The supply chain, checked with cargo deny (installed from crates.io when missing): every
# dependency's licence is one deny.toml allows, every crate comes from crates.io, no wildcard
# versions; duplicate versions are listed as warnings.
#
# Advisories (RustSec) are checked when their database can be fetched: it is a git repository on
# GitHub, and the development machines reach crates.io, PyPI, Debian and npm only, none of which
# carries it. There the check says it was skipped rather than pretend; wherever GitHub is
# reachable it runs and fails on a known vulnerability.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-deny >/dev/null 2>&1; then
    cargo install cargo-deny --locked --version 0.20.2
fi
cargo deny check licenses bans sources
if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
    cargo deny check advisories
else
    echo "deny: advisories not checked (the RustSec database on GitHub is out of reach here)" >&2
fi
