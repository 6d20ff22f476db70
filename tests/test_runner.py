"""`make test`'s own runner (tools/test.sh): the failed tests of every shard are named at the end of its output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAILURES = ROOT / "tools" / "failures.py"


def test_the_last_lines_name_each_failed_test_and_each_shard_that_never_finished(tmp_path):
    (tmp_path / "test_two.py").write_text('def test_fine():\n    pass\n\n\ndef test_wrong():\n'
                                          '    assert 1 == 2, "one is not two"\n')
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # its own rootdir, also when tmp_path is in this repo
    report = tmp_path / "B.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    str(tmp_path / "test_two.py")], cwd=tmp_path, capture_output=True, check=False)
    (tmp_path / "A.xml").write_text('<?xml version="1.0"?><testsuites><testsuite name="pytest">')  # cut short
    shown = subprocess.run([sys.executable, str(FAILURES), *(str(tmp_path / f"{s}.xml") for s in "ABC")],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert shown[0].startswith(f"[A] unreadable test report ({tmp_path / 'A.xml'}: no element found")
    assert shown[1:] == ["[B] FAILURE test_two::test_wrong: AssertionError: one is not two",
                         f"[C] no test report ({tmp_path / 'C.xml'}): the shard did not finish",
                         "failed or erroring tests: 1"]
