"""The engine's command line, its prebuilt launcher, the pool's size and the balancer's config (no server)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from labutils import config, stack
from labutils.errors import ConfigError, StackError
from labutils.stack import balancer, engine, prebuilt

FLAGS_WITH_VALUES = ("--model", "--alias", "--host", "--port", "--parallel", "--ctx-size", "--threads",
                     "--threads-batch", "--flash-attn", "--poll")


def test_both_engines_get_the_same_flags(tmp_path):
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    model = tmp_path / "m.gguf"
    source = stack.engine_command(stack.Settings(engine="source", llama_server=str(binary), slots=1), model)
    ours = stack.engine_command(stack.Settings(engine="prebuilt", slots=1), tmp_path / "m.gguf")
    assert source[0] == str(binary) and ours[:3] == [sys.executable, "-P", prebuilt.__file__]
    assert source[1:] == ours[3:]
    assert {"--no-kv-unified", "--no-cache-prompt", "--no-webui", *FLAGS_WITH_VALUES} <= set(ours)


def test_the_launcher_sets_every_flag_on_the_engine(tmp_path):
    pytest.importorskip("xllamacpp")
    cmd = stack.engine_command(stack.Settings(slots=2, threads=1, n_ctx=512, llama_port=9123), tmp_path / "m.gguf",
                               alias="mine")
    p = prebuilt.params(prebuilt.parser().parse_args(cmd[3:]))
    assert (p.model.path, p.model_alias, p.hostnames, p.port) == (str(cmd[4]), {"mine"}, ["127.0.0.1"], 9123)
    assert (p.n_parallel, p.n_ctx, p.kv_unified, p.cache_prompt, p.cache_ram_mib) == (2, 1024, False, False, 0)
    assert (p.cpuparams.n_threads, p.cpuparams_batch.n_threads, p.cpuparams.poll) == (1, 1, 0)
    assert p.flash_attn_type.name == "LLAMA_FLASH_ATTN_TYPE_DISABLED" and p.endpoint_props and not p.ui


def test_the_launcher_refuses_a_missing_flag():
    with pytest.raises(SystemExit):
        prebuilt.parser().parse_args(["--model", "m.gguf"])


# a whole launcher command line: the launcher's own checks refuse it before any engine starts
LAUNCH = ["--model", "m", "--alias", "a", "--host", "127.0.0.1", "--port", "1", "--parallel", "1", "--ctx-size", "64",
          "--threads", "1", "--threads-batch", "1", "--flash-attn", "off", "--poll", "0", "--no-kv-unified",
          "--no-cache-prompt", "--no-webui"]

def test_a_cpu_without_avx2_is_told_to_build_from_source(monkeypatch, capsys):
    assert prebuilt.missing_cpu_features("flags\t\t: fpu sse sse2 avx\n") == ["avx2", "fma", "f16c"]
    assert prebuilt.missing_cpu_features("flags\t\t: fpu avx avx2 fma f16c\n") == []
    monkeypatch.setattr(prebuilt, "missing_cpu_features", lambda *_: ["avx2"])
    with pytest.raises(StackError, match=r"lacks avx2.*LAB_ENGINE=source"):
        stack.Settings(engine="prebuilt").check_engine()
    assert prebuilt.main(LAUNCH) == 2
    assert "LAB_ENGINE=source" in capsys.readouterr().err


def test_lab_engine_and_engines_are_checked(monkeypatch):
    monkeypatch.setenv("LAB_ENGINE", "gpu")
    with pytest.raises(ConfigError, match="LAB_ENGINE='gpu' is not allowed: LAB_ENGINE must be prebuilt or source"):
        config.get("LAB_ENGINE")
    monkeypatch.setenv("LAB_ENGINES", "0")
    with pytest.raises(ConfigError, match="LAB_ENGINES"):
        config.get("LAB_ENGINES")
    monkeypatch.setenv("LAB_ENGINES", "3")
    monkeypatch.delenv("LAB_ENGINE")
    assert stack.Settings().pool_size == 3


def test_one_engine_per_core_unless_memory_is_short(monkeypatch, tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 2**20 * 100)  # 100 MB
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(engine, "memory_available_mb", lambda: 64_000)
    assert engine.default_engines(model) == 8
    monkeypatch.setattr(engine, "memory_available_mb", lambda: 2 * 3 * (100 + engine.ENGINE_OVERHEAD_MB))
    assert engine.default_engines(model) == 3  # half of the available memory
    monkeypatch.setattr(engine, "memory_available_mb", lambda: 10)
    assert engine.default_engines(model) == 1


def test_the_balancer_config():
    text = balancer.config(8322, [9001, 9002], {"engines": 2, "slots": 2})
    for line in ("admin off", "bind 127.0.0.1", "http://127.0.0.1:8322", "reverse_proxy 127.0.0.1:9001 127.0.0.1:9002",
                 "lb_policy least_conn", "health_uri /health", "flush_interval -1", f"handle {balancer.POOL_PATH}",
                 '{"engines": 2, "slots": 2}'):
        assert line in text
    assert Path(balancer.executable()).name == "caddy"


def test_a_system_without_libgomp_is_told_which_package_to_install(monkeypatch, capsys):
    real_cdll = prebuilt.ctypes.CDLL

    def cdll(name, *a, **kw):
        if name == "libgomp.so.1":
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        return real_cdll(name, *a, **kw)

    monkeypatch.setattr(prebuilt.ctypes, "CDLL", cdll)
    monkeypatch.setattr(prebuilt, "missing_cpu_features", lambda *_: [])
    monkeypatch.setattr(prebuilt.sys, "platform", "linux")
    assert prebuilt.missing_libraries() == ["libgomp.so.1"]
    with pytest.raises(StackError, match=r"needs libgomp\.so\.1 .*apt-get install libgomp1"):
        stack.Settings(engine="prebuilt").check_engine()
    assert prebuilt.main(LAUNCH) == 2
    assert "apt-get install libgomp1" in capsys.readouterr().err
