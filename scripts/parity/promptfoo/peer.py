"""Install and run the pinned promptfoo peer (shared by scripts/parity-promptfoo and scripts/bench-eval).

promptfoo lives in a scratch folder outside the repo:
    ${PROMPTFOO_DIR:-$HOME/.cache/incant-peers/promptfoo}
and is installed there with `npm install promptfoo@VERSION` on first use.
"""
import os
import shutil
import subprocess
import sys
import time

VERSION = "0.121.20"  # newest release that runs on Node 20 (see PEERS.md)


def peer_dir():
    return os.environ.get("PROMPTFOO_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "incant-peers", "promptfoo")


def peer_env(base=None):
    """Environment for running promptfoo: no telemetry, no update check, state kept in the scratch folder."""
    env = dict(os.environ if base is None else base)
    env["PROMPTFOO_DISABLE_TELEMETRY"] = "1"
    env["PROMPTFOO_DISABLE_UPDATE"] = "1"
    env.setdefault("PROMPTFOO_CONFIG_DIR", os.path.join(peer_dir(), "config"))
    # Node 20 prints a deprecation banner on every start; keep it out of the way.
    env.setdefault("NODE_NO_WARNINGS", "1")
    return env


def binary():
    return os.path.join(peer_dir(), "node_modules", ".bin", "promptfoo")


def installed_version():
    b = binary()
    if not os.path.exists(b):
        return None
    try:
        out = subprocess.run([b, "--version"], env=peer_env(), capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        if line.strip() and line.strip()[0].isdigit():
            return line.strip()
    return None


def ensure_installed(log=sys.stderr):
    """Install promptfoo@VERSION into peer_dir() unless it is already there. Returns the binary path."""
    have = installed_version()
    if have == VERSION:
        return binary()
    if shutil.which("npm") is None:
        raise SystemExit("promptfoo: npm not found; install Node.js 20 and npm first")
    d = peer_dir()
    os.makedirs(d, exist_ok=True)
    pkg = os.path.join(d, "package.json")
    if not os.path.exists(pkg):
        with open(pkg, "w") as f:
            f.write('{"private": true}\n')
    print(f"promptfoo: installing promptfoo@{VERSION} into {d} (found {have or 'none'}) ...", file=log, flush=True)
    t = time.perf_counter()
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", f"promptfoo@{VERSION}"],
                       cwd=d, env=peer_env())
    if r.returncode != 0:
        raise SystemExit(f"promptfoo: npm install failed (exit {r.returncode})")
    print(f"promptfoo: installed in {time.perf_counter() - t:.0f} s", file=log, flush=True)
    have = installed_version()
    if have != VERSION:
        raise SystemExit(f"promptfoo: expected version {VERSION} after install, found {have}")
    return binary()
