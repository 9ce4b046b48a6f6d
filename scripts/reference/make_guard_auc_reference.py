"""Reference ROC AUC values for incant-guard's metrics (torchmetrics' binary AUROC).

Writes JSON: a list of cases, each with scores, labels and the AUROC torchmetrics computes.
Scores are rounded to one or two decimals so many cases have ties, which is where AUC
implementations differ.

Usage: python make_guard_auc_reference.py OUT.json
"""
import json
import sys

import torch
from torchmetrics.functional.classification import binary_auroc


def main(out_path):
    gen = torch.Generator().manual_seed(7)
    cases = []
    for i in range(40):
        n = [5, 12, 40, 200][i % 4]
        decimals = [1, 2][i % 2]
        labels = torch.randint(0, 2, (n,), generator=gen)
        labels[0], labels[1] = 0, 1  # both classes present
        shift = 0.3 * (i % 3)
        scores = torch.rand(n, generator=gen) + shift * labels
        scores = torch.round(scores.clamp(0, 1) * 10**decimals) / 10**decimals
        auc = binary_auroc(scores, labels).item()
        cases.append({
            "scores": [round(float(s), decimals) for s in scores],
            "labels": [int(l) for l in labels],
            "auc": auc,
        })
    with open(out_path, "w") as f:
        json.dump(cases, f)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
