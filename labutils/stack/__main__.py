"""Command line of the embedded stack: `python -m labutils.stack up|down|status|logs`."""

from __future__ import annotations

import argparse
import sys

from ..errors import StackError
from . import Settings, down, engine_props, is_up, logs, missing_models, status, up
from .engine import _get_json

# the inference surfaces a learner calls, by the route that serves each (GET /v1/inspect/routes)
SURFACES = {"/v1/chat/completions": "chat.completions", "/v1/completions": "completions",
            "/v1/responses": "responses", "/v1/conversations": "conversations"}


def surfaces(url: str) -> list[str] | None:
    """The inference APIs the stack at `url` serves (chat.completions, responses, ...), read from its route
    list; None when it does not say. Taught in notebooks/14_responses_api.ipynb."""
    routes = (_get_json(url.rstrip("/") + "/v1/inspect/routes") or {}).get("data")
    if not isinstance(routes, list):
        return None
    served = {r.get("route") for r in routes if isinstance(r, dict)}
    return [name for route, name in SURFACES.items() if route in served]


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
    apis = surfaces(s.url) if is_up(s) else None
    if apis is not None:
        absent = "" if "responses" in apis else "  (no Responses API: this run config does not serve it)"
        lines.append(f"{'apis':<12} {', '.join(apis) or '(none listed)'}{absent}")
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
