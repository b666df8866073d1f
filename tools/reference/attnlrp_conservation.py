#!/usr/bin/env python3
"""How much of the target logit AttnLRP's relevance keeps at each layer, on real sentences.

    python3 tools/reference/attnlrp_conservation.py MODEL DATA.tsv N

Runs `target/release/calig explain --method attnlrp --format json` on the first N rows of a
TSV with a header (text in the first column) and prints, per layer, the median over the rows of
sum R(h^(l)) / y_c, and the same for the relevance at the word embeddings. Standard library
only; build calig first (`cargo build --release`).
"""

import json
import statistics
import subprocess
import sys


def main(model, path, n):
    with open(path, encoding="utf-8") as f:
        texts = [line.split("\t")[0] for line in f.read().splitlines()[1:]][:n]
    per_layer, at_input = None, []
    for text in texts:
        out = subprocess.run(["target/release/calig", "explain", "--model", model, "--method",
                              "attnlrp", "--format", "json", text],
                             capture_output=True, check=True).stdout
        c = json.loads(out)["details"]["conservation"]
        y = c["target_logit"]
        ratios = [t / y for t in c["layer_totals"]]
        per_layer = per_layer or [[] for _ in ratios]
        for acc, r in zip(per_layer, ratios):
            acc.append(r)
        at_input.append(c["input_total"] / y)
    print(f"{model}, n = {len(texts)}: median sum R(h^(l)) / y_c for l = 0..L: "
          f"{[round(statistics.median(v), 3) for v in per_layer]}; "
          f"word embeddings: {round(statistics.median(at_input), 3)}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
