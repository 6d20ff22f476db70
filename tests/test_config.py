"""Configuration: every environment variable read in labutils/config.py, validated, and the README's table
is exactly the registry's (`config.markdown_table()`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from labutils import config
from labutils.errors import ConfigError, LabError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_and_values(monkeypatch):
    monkeypatch.delenv("LAB_SLOTS", raising=False)
    default = config.VARS["LAB_SLOTS"].default
    assert config.get("LAB_SLOTS") == default and config.get("LAB_DISTRIBUTION") == "llama-stack"
    monkeypatch.setenv("LAB_SLOTS", " 7 ")
    monkeypatch.setenv("LAB_DISTRIBUTION", "ogx")
    monkeypatch.setenv("LLAMA_STACK_URL", "http://host:1/")
    assert (config.get("LAB_SLOTS"), config.get("LAB_DISTRIBUTION"), config.get("LLAMA_STACK_URL")) == (
        7, "ogx", "http://host:1")
    monkeypatch.setenv("LAB_SLOTS", "")
    assert config.get("LAB_SLOTS") == default  # empty = unset


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("LAB_CONCURRENCY", "abc", "an integer >= 1"), ("LAB_CONCURRENCY", "0", "an integer >= 1"),
    ("LAB_MAX_CALLS", "1.5", "an integer >= 1"), ("LAB_STACK_PORT", "70000", "[1, 65535]"),
    ("LAB_DISTRIBUTION", "vllm", "llama-stack or ogx"), ("LAB_START_TIMEOUT", "-1", "a number > 0"),
    ("LLAMA_STACK_URL", "localhost:8321", "http://"),
])
def test_a_bad_value_names_the_variable_its_value_and_what_is_allowed(monkeypatch, name, value, allowed):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        config.get(name)
    assert str(err.value).startswith(f"{name}={value!r} is not allowed") and allowed in str(err.value)
    assert isinstance(err.value, LabError) and isinstance(err.value, ValueError)


def test_unknown_variable():
    with pytest.raises(KeyError, match="LAB_SLOTS"):
        config.get("LAB_NOPE")


def test_readme_table_is_the_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert config.markdown_table() in readme, ("README's variable table differs from labutils/config.py: paste "
                                               "the output of `python -c 'from labutils import config; "
                                               "print(config.markdown_table())'`")
    documented = set(re.findall(r"^\| `(\w+)` \|", readme, re.M))
    assert documented == set(config.VARS)


def test_config_is_stdlib_only_and_the_only_reader_of_the_environment():
    tree = ast.parse((ROOT / "labutils" / "config.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert imported <= {"__future__", "os", "collections", "contextlib", "dataclasses", "errno", "pathlib", "typing"}
    mine = [p for p in (ROOT / "labutils").rglob("*.py")
            if "stack" not in p.parts and p.name not in ("config.py", "cache.py")]
    readers = [p.name for p in mine if re.search(r"os\.environ|getenv", p.read_text())]
    assert readers == [], f"{readers} read the environment: use labutils.config.get"
