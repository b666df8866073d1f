#!/usr/bin/env bash
# Runs docs/notebook.ipynb in a real Jupyter kernel with the calig package built from this
# checkout (jupyter nbconvert --execute --to html), writes docs/notebook.html, and shoots the
# page with headless Chromium into docs/screenshots/notebook.png. VENV (default
# target/nb-venv) holds the package, nbconvert and ipykernel (pinned). Needs the built-in models
# (calig models install) and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-target/nb-venv}"
bash scripts/python.sh "$VENV"
"$VENV/bin/python" -c "import nbconvert, ipykernel" 2>/dev/null ||
    "$VENV/bin/pip" install -q "nbconvert==7.16.6" "ipykernel==6.29.5" "nbclient==0.10.2"
"$VENV/bin/python" -m ipykernel install --prefix "$VENV" --name python3 >/dev/null
JUPYTER_PATH="$PWD/$VENV/share/jupyter" "$VENV/bin/jupyter" nbconvert --execute --to html \
    docs/notebook.ipynb --output-dir docs
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --screenshot=docs/screenshots/notebook.png --window-size=1100,1500 \
    "file://$PWD/docs/notebook.html" >/dev/null 2>&1
ls -l docs/notebook.html docs/screenshots/notebook.png
