#!/usr/bin/env python3
"""Reference p-values for incant-compare's exact McNemar test.

McNemar's exact test on b and c discordant pairs is the two-sided exact binomial test of
b successes in b + c trials with p = 1/2. This script asks scipy for those p-values and
prints the JSON fixture that crates/incant-compare/tests/reference.rs checks against:

    python3 -m venv VENV && VENV/bin/pip install scipy
    VENV/bin/python scripts/reference/make_compare_reference.py \
        > crates/incant-compare/tests/reference/mcnemar.json

scipy refuses n = 0; with no discordant pairs there is no evidence either way and the
p-value is 1 by convention (recorded as such, marked "convention").
"""

import json
import sys

import scipy
from scipy.stats import binomtest

PAIRS = [
    (0, 0), (1, 0), (0, 1), (2, 0), (3, 12), (12, 3), (10, 10), (0, 25), (25, 1),
    (5, 9), (7, 0), (40, 60), (60, 40), (100, 130), (200, 150), (500, 620),
    (1000, 1100), (3000, 2800), (0, 1000),
]


def main():
    cases = []
    for b, c in PAIRS:
        n = b + c
        if n == 0:
            cases.append({"b": b, "c": c, "p": 1.0, "convention": True})
            continue
        p = binomtest(b, n, 0.5, alternative="two-sided").pvalue
        cases.append({"b": b, "c": c, "p": float(p)})
    json.dump(
        {
            "generator": "scipy.stats.binomtest(b, b + c, 0.5).pvalue",
            "scipy": scipy.__version__,
            "cases": cases,
        },
        sys.stdout,
        indent=1,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
