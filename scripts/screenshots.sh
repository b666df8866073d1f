#!/usr/bin/env bash
# Regenerates docs/screenshots/: one report of each kind made with the built-in models, shot
# by headless Chromium with the flags tests/html_reports.rs uses, and the PNG reports as calig
# writes them. Needs the built-in models (calig models install) and Debian's chromium.
# Usage: scripts/screenshots.sh [path/to/calig]   (default: target/debug/calig)
set -euo pipefail
cd "$(dirname "$0")/.."
calig=${1:-target/debug/calig}
out=docs/screenshots
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sentence="a gorgeous, witty, seductive movie."
# A 922-token ERASER movie review (../shared/data as notes/ describe it), or your own.
review=${CALIG_LONG_TEXT:-../shared/data/eraser_movies/docs/negR_000.txt}
boot=models-src/vit-fashion-mae/examples/test00000_ankle-boot.png

shot() { # NAME HEIGHT: $tmp/NAME.html -> $out/NAME.png
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --screenshot="$out/$1.png" --window-size=1100,"$2" "file://$tmp/$1.html" \
        >/dev/null 2>&1
}

"$calig" explain --method calig --format html --output "$tmp/text-calig.html" "$sentence"
"$calig" explain --method gae --format html --output "$tmp/text-gae.html" "$sentence"
"$calig" explain --method calig,ig,gae --format html --output "$tmp/text-methods.html" "$sentence"
"$calig" explain --model minilm-movies --method attnlrp --text-file "$review" --format html \
    --output "$tmp/text-long.html"
"$calig" explain --method attnlrp --image "$boot" --format html --output "$tmp/image-attnlrp.html"
"$calig" explain --method calig --image "$boot" --format html --output "$tmp/image-calig.html"
printf '%s\n' '{"id": "r1", "text": "a gorgeous, witty, seductive movie."}' \
    '{"id": "r2", "text": "the plot is dull and the ending drags."}' >"$tmp/rows.jsonl"
"$calig" batch --method gae --input "$tmp/rows.jsonl" --output "$tmp/rows-out.jsonl" 2>/dev/null
"$calig" render "$tmp/rows-out.jsonl" --format html --output "$tmp/batch.html"
for kind in text-calig text-gae text-methods batch; do
    shot "$kind" 900
done
shot image-attnlrp 1000
shot image-calig 1300
shot text-long 3600
"$calig" explain --method calig --format png --output "$out/png-text-calig.png" \
    "$sentence But the ending drags."
"$calig" explain --method calig --image "$boot" --format png --output "$out/png-image-calig.png"
# The same figure in vectors (words as text), for papers; and a shot of it as a browser draws it.
"$calig" explain --method calig,ig,gae --format svg --output "$out/svg-text-methods.svg" \
    "$sentence But the ending drags."
height=$(grep -o 'height="[0-9]*"' "$out/svg-text-methods.svg" | head -1 | tr -dc 0-9)
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --screenshot="$out/svg-text-methods.png" --window-size=1000,"$height" \
    "file://$PWD/$out/svg-text-methods.svg" >/dev/null 2>&1
"$calig" explain --method calig,lig,ig,attnlrp,gae,rollout --layout compact --format png \
    --dpi 150 --output "$out/png-compact-methods.png" "$sentence But the ending drags."
# An evaluation's curves: bands, n, line styles (12 SST-2 dev sentences, six methods).
"$calig" eval --model minilm-sst2 --dataset ../shared/data/sst2/dev.tsv --limit 12 \
    --methods ig:steps=8,gae,attnlrp,random,rollout,saliency --output "$tmp/eval" 2>/dev/null
cp "$tmp/eval/plots/deletion.png" "$out/eval-deletion.png"
ls -l "$out"
