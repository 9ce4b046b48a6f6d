#!/usr/bin/env python3
"""Reference data for incant-grid: AUTOMATIC1111's X/Y/Z plot value parsing on generated inputs.

Usage:
    python make_xyz_grid_reference.py PATH_TO_XYZ_GRID_PY [OUT_JSON]

Pass the path to scripts/xyz_grid.py of stable-diffusion-webui (the committed data was made
from commit 02d5a43c4b3302505dc58d0c8e2f3a40e3e766b8). Nothing is reimplemented here: the
script reads that file's syntax tree and executes only the pieces the axis parsing needs,
as A1111 wrote them -- the four `re_range*` regexes, `csv_string_to_list_strip`,
`format_value_add_label` and the `process_axis` function nested in `Script.run` (with the
closure variables it reads: csv_mode, raw_mode off as in A1111's defaults). It needs numpy.
OUT_JSON defaults to crates/incant-grid/tests/data/a1111_axis_values.json.

For every input string the JSON holds, for an int axis ("Steps") and a float axis
("CFG Scale"), either the values A1111 parses and their labels, or the exception type
when A1111 raises. Float values are stored as their Python repr strings.
"""

import ast
import json
import random
import sys
from pathlib import Path

SEED = 1111
COUNT = 240
WANTED_FUNCS = {"csv_string_to_list_strip", "format_value_add_label", "str_permutations"}


def load_a1111(path):
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    picked = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if all(alias.name.split(".")[0] in {"re", "csv", "io", "itertools", "numpy", "random", "collections", "copy", "os"} for alias in node.names) or (
                isinstance(node, ast.ImportFrom) and node.module in {"io", "itertools", "collections", "copy"}
            ):
                picked.append(node)
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.startswith("re_range") for t in node.targets):
            picked.append(node)
        elif isinstance(node, ast.FunctionDef) and node.name in WANTED_FUNCS:
            picked.append(node)
        elif isinstance(node, ast.ClassDef) and node.name == "Script":
            run = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "run")
            picked.append(next(n for n in ast.walk(run) if isinstance(n, ast.FunctionDef) and n.name == "process_axis"))
    module = ast.Module(body=picked, type_ignores=[])
    namespace = {"csv_mode": False, "raw_mode": False, "p": None}
    exec(compile(module, path, "exec"), namespace)
    return namespace


class Opt:
    def __init__(self, label, type_):
        self.label = label
        self.type = type_
        self.choices = None
        self.prepare = None
        self.confirm = None


def json_number(v):
    """Floats are written as Python's repr (a string): exact when read back with a correctly
    rounding parser, and JSON has no inf or nan."""
    if isinstance(v, float):
        return repr(v)
    return v


def generated_inputs(rng):
    fixed = [
        "1-5", "1-5 (+2)", "10-1 (-3)", "1-10 [5]", "1.5-3 (+0.5)", "1-2 [5]", "5-1", "1-1",
        "0-0 [0]", "3-7 [1]", "3-7 []", "1-5 (2)", "1-5 (+0)", "1 - 5", " 1-5 ", "-5--1", "-5 - -1 (+2)",
        "+1-+4", "- 1-5", "1--5 (-2)", "1-5,7,9", "7, 8, 9", "7,,8", "7,", ",", "", "   ", "a", "1.5",
        "1_000", "1e2", "1e2-3", "1_5-2", "1x5-3", "1.5-3.5 (+0.25)", "2.-4. (+.5)", "1.-2. [3]",
        "1-2 [3.]", "1-2 [2.5]", "0.1-0.3 (+0.1)", "1-10 [3]", "10-1 [4]", "-3-3 [7]", "1-100 (+33)",
        '"1,5"', '"1-3",4', '"1", "2"', 'a"b', '"a"b', '"2-4" , 6', "1-3\n5", "1-3\n\n5", '"1\n2"',
        "inf", "nan", "-inf", "+7", "007", "0-10 (+3)", "8-2", "1-3 ( +1)", "1-3 (+1 )", "1-3 [ 2]",
        "1-3 [2 ]", "1-3(+1)", "1-3[2]", "1.5 - 3 (+.5)", "1-3 (-1)", "3-1 (+1)", "1.5", "7.5, 8",
        "1-2 (+0.3)", "0-1 (+0.1)", "1.1-2.2 (+0.11)", "100-1000 [4]", "-1", "-1, 5, -1", "4294967295",
        "1-2-3", "1-2 (+1) (+1)", "1-2 [2] [2]", "1-4 [2], 10-8 [3]", "2.5-1 (-0.5)", "0-1 [11]",
        "1.0-1.0", "1-1 [5]", "5-5 (+1)", "5-5 (-1)", "1-3 (+1.5)", "1-3 (+1.)", "\t2-4\t", "1- 4",
        "1 -4", "12 - 15 (+1)", "1e1-2e1", "1-2 [1e1]", "1,2;3", "2 - 4 [3]",
    ]
    words = ["1", "2", "3", "5", "10", "12", "20", "0", "7", "8"]
    floats = ["1.5", "2", "0.5", "3.25", "7", "7.5", "0.1", "12.0", "4.", "0.33"]
    out = list(fixed)
    while len(out) < COUNT:
        kind = rng.randrange(7)
        a, b = rng.choice(words), rng.choice(words)
        fa, fb = rng.choice(floats), rng.choice(floats)
        sp = lambda: rng.choice(["", "", " ", "  "])
        sign = lambda: rng.choice(["", "", "-", "+"])
        if kind == 0:
            s = f"{sign()}{a}{sp()}-{sp()}{sign()}{b}"
        elif kind == 1:
            s = f"{a}{sp()}-{sp()}{b}{sp()}({rng.choice(['+', '-'])}{rng.choice(['1', '2', '3', '4'])})"
        elif kind == 2:
            s = f"{a}{sp()}-{sp()}{b}{sp()}[{rng.choice(['0', '1', '2', '3', '5', '9'])}]"
        elif kind == 3:
            s = f"{fa}{sp()}-{sp()}{fb}{sp()}({rng.choice(['+', '-'])}{rng.choice(['0.5', '0.25', '1', '0.1', '2', '0.3'])})"
        elif kind == 4:
            s = f"{fa}{sp()}-{sp()}{fb}{sp()}[{rng.choice(['2', '3', '4', '6', '10'])}]"
        elif kind == 5:
            s = ",".join(rng.choice(words + floats) for _ in range(rng.randrange(1, 5)))
        else:
            parts = [f"{rng.choice(words)}-{rng.choice(words)}", rng.choice(words), f"{rng.choice(floats)}-{rng.choice(floats)} [3]"]
            rng.shuffle(parts)
            s = f",{sp()}".join(parts[: rng.randrange(1, 4)])
        out.append(s)
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ns = load_a1111(sys.argv[1])
    here = Path(__file__).resolve().parents[2]
    out_path = Path(sys.argv[2]) if len(sys.argv) > 2 else here / "crates/incant-grid/tests/data/a1111_axis_values.json"
    rng = random.Random(SEED)
    opts = {"int": Opt("Steps", int), "float": Opt("CFG Scale", float)}
    cases = []
    for text in generated_inputs(rng):
        case = {"input": text}
        for key, opt in opts.items():
            try:
                values = ns["process_axis"](opt, text, None)
                case[key] = {"values": [json_number(v) for v in values], "labels": [ns["format_value_add_label"](None, opt, v) for v in values]}
            except Exception as e:  # A1111 raises: record which exception
                case[key] = {"error": type(e).__name__}
        cases.append(case)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"source": "AUTOMATIC1111 scripts/xyz_grid.py process_axis", "cases": cases}, f, ensure_ascii=False, indent=0, allow_nan=False)
        f.write("\n")
    print(f"{len(cases)} cases -> {out_path}")


if __name__ == "__main__":
    main()
