"""Command line of the embedded stack: `python -m labutils.stack up|down|status|logs`."""

from __future__ import annotations

import argparse
import sys

from ..errors import StackError
from . import Settings, down, is_up, logs, status, up


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
            s = Settings()
            for row in status(s):
                state = f"running, pid {row['pid']}" if row["running"] else "not running"
                print(f"{row['server']:<12} {row['address']:<16} {state:<22} log: {row['log']}")
            print(f"{'model':<12} {s.model_id if is_up(s) else '(not answering)'}  at {s.url}")
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
