"""The failed and erroring tests of JUnit files, one line each: `make test` prints them last (tools/test.sh).

The shards' output is interleaved and CI may keep only the end of a long log, so a failure named in the middle of
it can be lost. A report that is missing or cut short is named too: its shard never finished.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def failures(path: Path) -> list[str]:
    """One line per failed or erroring test case of one JUnit file."""
    lines = []
    for case in ET.parse(path).getroot().iter("testcase"):
        for kind in ("failure", "error"):
            found = case.find(kind)
            if found is not None:
                first = (found.get("message") or found.text or "").strip().splitlines()[:1]
                lines.append(f"{kind.upper()} {case.get('classname')}::{case.get('name')}"
                             + (f": {first[0][:300]}" if first else ""))
    return lines


def main(paths: list[str]) -> int:
    found = 0
    for name in paths:
        path = Path(name)
        try:
            lines = failures(path)
        except FileNotFoundError:
            print(f"[{path.stem}] no test report ({path}): the shard did not finish")
            continue
        except ET.ParseError as e:
            print(f"[{path.stem}] unreadable test report ({path}: {e}): the shard did not finish")
            continue
        for line in lines:
            print(f"[{path.stem}] {line}")
            found += 1
    print(f"failed or erroring tests: {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
