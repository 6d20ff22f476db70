"""Command line of the embedded stack: `python -m labutils.stack up|down|status|logs`."""

from __future__ import annotations

import argparse
import sys

from ..errors import StackError
from . import Settings, down, engine_props, is_up, logs, missing_models, status, up


def describe_status(s: Settings) -> str:
    """What `status` prints: each server, whose it is, and what the stack at the lab's address serves."""
    lines = []
    for row in status(s):
        state = {"this checkout": f"running, pid {row['pid']}",
                 "elsewhere": "answering, started elsewhere (reused by up; stop it where it started)",
                 None: "not running"}[row["owner"]]
        lines.append(f"{row['server']:<12} {row['address']:<16} {state}  log: {row['log']}")
    props = engine_props(s) or {}
    settings = props.get("default_generation_settings") or {}
    if props:
        shape = props.get("pool") or {}
        count = f"{shape['engines']} engine(s) x {props.get('total_slots', '?')} slot(s) = " if shape else ""
        lines.append(f"{'engine':<12} {props['lab_engine']}, {count}{shape.get('slots', props.get('total_slots', '?'))}"
                     f" slots, context {settings.get('n_ctx', '?')} per slot, model {props.get('model_path', '?')}")
    missing = missing_models(s)
    served = ", ".join(m for m in s.model_ids if m not in missing)
    label = "models" if len(s.model_ids) > 1 else "model"
    lines.append(f"{label:<12} {served if is_up(s) else '(not answering)'}  at {s.url}")
    if is_up(s) and missing:
        lines.append(f"{'':<12} not served until the stack restarts (make down && make up): {', '.join(missing)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labutils.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "logs"])
    parser.add_argument("-n", "--lines", type=int, default=40, help="log lines to show (logs)")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up()
        elif args.command == "down":
            down()
        elif args.command == "logs":
            print(logs(lines=args.lines))
        else:
            print(describe_status(Settings()))
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
