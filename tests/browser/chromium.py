"""How the browser tests and the front-end benchmark start Debian's Chromium (Playwright downloads none)."""

import os

CHROMIUM = os.environ.get("POINTSITE_CHROMIUM", "/usr/bin/chromium")
# No sandbox (containers, root in CI), no GPU (headless servers), and nothing that would reach
# out to the internet on its own: the page must work with what our server sends.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
