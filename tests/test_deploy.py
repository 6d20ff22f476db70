"""deploy/k8s, on paper but checked: every manifest validates offline against the Kubernetes schemas
(kubernetes-validate), and the cluster's engines run the lab's own engine command line."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from labutils import stack
from labutils.stack import prebuilt

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
VERSION = "1.33.0"  # a Kubernetes release the schemas of kubernetes-validate cover


def _docs() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        found += [(f"{path.name}#{i}", doc) for i, doc in enumerate(yaml.safe_load_all(path.read_text())) if doc]
    return found


MANIFESTS = [(name, doc) for name, doc in _docs() if "kind" in doc]


def test_there_are_manifests_and_only_helm_values_besides():
    assert {doc["kind"] for _, doc in MANIFESTS} >= {"Deployment", "Service", "ConfigMap"}
    others = [name for name, doc in _docs() if "kind" not in doc]
    assert others == ["values.yaml#0"], f"a YAML document that is neither a manifest nor the helm values: {others}"


@pytest.mark.parametrize(("name", "doc"), MANIFESTS, ids=[name for name, _ in MANIFESTS])
def test_every_manifest_is_valid_kubernetes(name, doc):
    kubernetes_validate.validate(doc, VERSION, strict=True)  # raises ValidationError naming the bad field


def test_a_broken_manifest_is_refused():
    engine = next(doc for _, doc in MANIFESTS if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "engine")
    broken = {**engine, "spec": {**engine["spec"], "replicas": "four"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def _by(kind: str, name: str) -> dict:
    return next(doc for _, doc in MANIFESTS if doc["kind"] == kind and doc["metadata"]["name"] == name)


def test_the_cluster_has_the_lab_s_shape():
    engine = _by("Deployment", "engine")["spec"]
    assert engine["replicas"] >= 2
    (container,) = engine["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["cpu"] == "1"
    cmd = container["command"]
    flags = cmd[next(i for i, a in enumerate(cmd) if a.endswith("labutils/stack/prebuilt.py")) + 1:]
    args = prebuilt.parser().parse_args(flags)  # the launcher takes them as they are
    assert (args.threads, args.parallel, args.poll, args.flash_attn) == (1, 2, 0, "off")
    ours = stack.engine_command(stack.Settings(slots=2, threads=1, engine="prebuilt"), Path(args.model), port=8322)
    assert [f for f in flags if f.startswith("--")] == [f for f in ours if f.startswith("--")]
    assert _by("Service", "engine")["spec"]["clusterIP"] == "None"
    caddyfile = _by("ConfigMap", "balancer")["data"]["Caddyfile"]
    for line in ("lb_policy least_conn", "health_uri /health", "flush_interval -1", "dynamic a engine."):
        assert line in caddyfile
    env = {e["name"]: e["value"] for c in _by("Deployment", "llama-stack")["spec"]["template"]["spec"]["containers"]
           for e in c.get("env", [])}
    assert env["LAB_LLAMA_CPP_URL"] == "http://127.0.0.1:8322/v1"


def test_the_class_cache_is_not_put_on_a_network_volume():
    values = yaml.safe_load((K8S / "values.yaml").read_text())
    assert "LAB_CACHE_DIR" not in values["singleuser"]["extraEnv"]
    text = "\n".join((K8S / name).read_text() for name in ("values.yaml", "shared-stack.yaml"))
    assert not any("ReadWriteMany" in line.split("#")[0] for line in text.splitlines()), "only in a warning"
