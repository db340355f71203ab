"""deploy/kubernetes: valid against the Kubernetes schemas (kubernetes-validate, offline),
and consistent with the image (ports, paths, the accounts file) and with each other.

Layout: base/ (Deployment, Service, PVC), overlays ingress/ (Kubernetes) and openshift/
(a Route, no fsGroup), secret.yaml (the accounts secret's shape). The Route (OpenShift) and
the kustomizations have no schema in kubernetes-validate; their fields are checked here by
hand, and the overlay's patches are checked to name paths that exist in the base.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.podman import REPO

MANIFESTS = REPO / "deploy" / "kubernetes"
CONTAINERFILE = REPO / "deploy" / "container" / "Containerfile"
NO_SCHEMA = {"route.yaml", "kustomization.yaml"}
KUSTOMIZATIONS = ("base", "ingress", "openshift")


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((MANIFESTS / name).read_text())
    assert isinstance(document, dict)
    return document


def image_env() -> dict[str, str]:
    """The DYNOPYPI_* defaults the Containerfile sets."""
    text = CONTAINERFILE.read_text()
    return dict(re.findall(r"(DYNOPYPI_[A-Z_]+)=(\S+)", text))


def validator() -> str:
    exe = Path(sys.executable).parent / "kubernetes-validate"
    assert exe.exists(), "kubernetes-validate is missing: pip install -e '.[deploy]'"
    return str(exe)


@pytest.mark.parametrize(
    "name",
    sorted(
        str(p.relative_to(MANIFESTS)) for p in MANIFESTS.rglob("*.yaml") if p.name not in NO_SCHEMA
    ),
)
def test_manifest_is_valid_against_the_schemas(name: str) -> None:
    result = subprocess.run(
        [validator(), "--strict", str(MANIFESTS / name)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed " in output and "WARN" not in output, output  # a schema was found


def test_deployment_matches_the_image() -> None:
    env = image_env()
    deployment = load("base/deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (port,) = container["ports"]
    assert port["containerPort"] == int(env["DYNOPYPI_PORT"])
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["packages"] == env["DYNOPYPI_ROOTS"]
    assert mounts["cache"] == env["DYNOPYPI_CACHE_DIR"]
    assert mounts["htpasswd"] == str(Path(env["DYNOPYPI_PASSWORDS"]).parent)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert (
        volumes["packages"]["persistentVolumeClaim"]["claimName"]
        == load("base/pvc.yaml")["metadata"]["name"]
    )
    secret = load("secret.yaml")
    assert volumes["htpasswd"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert Path(env["DYNOPYPI_PASSWORDS"]).name in secret["stringData"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # one writer at a time


def test_security_context_is_restrictive() -> None:
    pod = load("base/deployment.yaml")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["privileged"] is False
    assert context["capabilities"]["drop"] == ["ALL"]


def test_service_route_and_ingress_agree() -> None:
    service = load("base/service.yaml")
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    selector = service["spec"]["selector"]
    labels = load("base/deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    route = load("openshift/route.yaml")
    assert route["apiVersion"] == "route.openshift.io/v1" and route["kind"] == "Route"
    assert route["spec"]["to"] == {"kind": "Service", "name": "dynopypi", "weight": 100}
    assert route["spec"]["port"]["targetPort"] == port["name"]
    assert route["spec"]["tls"]["termination"] == "edge"
    ingress = load("ingress/ingress.yaml")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "dynopypi", "port": {"name": port["name"]}}


def test_kustomizations_name_existing_files() -> None:
    base = load("base/kustomization.yaml")["resources"]
    assert set(base) == {p.name for p in (MANIFESTS / "base").glob("*.yaml")} - NO_SCHEMA
    for name in ("ingress", "openshift"):
        resources = load(f"{name}/kustomization.yaml")["resources"]
        assert resources[0] == "../base"
        for resource in resources[1:]:
            assert (MANIFESTS / name / resource).is_file(), resource
    # the accounts are made from a file by the operator, never applied empty by kustomize
    for name in KUSTOMIZATIONS:
        kustomization = load(f"{name}/kustomization.yaml")
        assert "secretGenerator" not in kustomization
        assert not any("secret" in r for r in kustomization["resources"])


def test_openshift_overlay_removes_what_the_scc_assigns() -> None:
    """The patches name paths that exist in the base (a JSON patch ``remove`` of a missing
    path fails at apply time)."""
    overlay = load("openshift/kustomization.yaml")
    (patch,) = overlay["patches"]
    assert patch["target"] == {"kind": "Deployment", "name": "dynopypi"}
    operations = yaml.safe_load(patch["patch"])
    deployment = load("base/deployment.yaml")
    for operation in operations:
        assert operation["op"] == "remove"
        node: Any = deployment
        for key in operation["path"].strip("/").split("/"):
            assert key in node, operation["path"]
            node = node[key]
    removed = {op["path"].rsplit("/", 1)[1] for op in operations}
    assert removed == {"fsGroup", "fsGroupChangePolicy"}
