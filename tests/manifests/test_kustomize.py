"""The offline kustomize stand-in (tests/manifests/kustomize.py) on small kustomizations:
each feature the overlays use gives kustomize's result, and everything else is refused with a
message that says what is wrong."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.kustomize import KustomizeError, merge, render

HEADER = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels: {tier: web}
spec:
  strategy: {type: Recreate}
  template:
    spec:
      containers:
        - name: main
          image: app:1
          env:
            - {name: A, value: "1"}
            - {name: B, value: "2"}
          volumeMounts:
            - {name: data, mountPath: /data}
            - {name: tmp, mountPath: /tmp}
          ports:
            - {name: http, containerPort: 8080}
        - name: sidecar
          image: side:1
      volumes:
        - {name: data, persistentVolumeClaim: {claimName: data}}
        - {name: tmp, emptyDir: {}}
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text, dedented) under ``folder``; returns ``folder``."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def by_id(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def container(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return found


# --- resources and namespace ----------------------------------------------------------------


def test_folders_are_rendered_as_bases_with_their_own_transformations(tmp_path: Path) -> None:
    write(tmp_path, {
        "shared/kustomization.yaml": HEADER + "resources: [app.yaml]\nimages: [{name: app, newTag: '2'}]\n",
        "shared/app.yaml": DEPLOYMENT,
        "base/kustomization.yaml": HEADER + "resources: [../shared, role.yaml]\n",
        "base/role.yaml": """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: reader}
            rules: []
        """,
        "overlay/kustomization.yaml": HEADER + "namespace: team\nresources: [../base]\n",
    })
    docs = by_id(render(tmp_path / "overlay"))
    assert list(docs) == ["Deployment/app", "ClusterRole/reader"]
    assert container(docs["Deployment/app"], "main")["image"] == "app:2"
    assert docs["Deployment/app"]["metadata"]["namespace"] == "team"
    assert "namespace" not in docs["ClusterRole/reader"]["metadata"], "cluster-scoped kinds keep no namespace"


def test_a_kustomization_cycle_and_a_missing_resource_are_errors(tmp_path: Path) -> None:
    write(tmp_path, {"a/kustomization.yaml": HEADER + "resources: [../b]\n",
                     "b/kustomization.yaml": HEADER + "resources: [../a]\n",
                     "c/kustomization.yaml": HEADER + "resources: [gone.yaml]\n"})
    with pytest.raises(KustomizeError, match="cycle"):
        render(tmp_path / "a")
    with pytest.raises(KustomizeError, match="gone.yaml: neither a file nor a folder"):
        render(tmp_path / "c")


def test_an_object_defined_twice_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"kustomization.yaml": HEADER + "resources: [a.yaml, b.yaml]\n",
                     "a.yaml": DEPLOYMENT, "b.yaml": DEPLOYMENT})
    with pytest.raises(KustomizeError, match="Deployment/app is defined twice"):
        render(tmp_path)


def test_namespace_reaches_only_role_binding_subjects_named_default(tmp_path: Path) -> None:
    """kustomize's namespace transformer (setRoleBindingSubjects: defaultOnly) rewrites the
    namespace of subjects named `default` only; others keep theirs, or none."""
    write(tmp_path, {
        "kustomization.yaml": HEADER + "namespace: team\nresources: [binding.yaml]\n",
        "binding.yaml": """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: b, namespace: elsewhere}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
            subjects:
              - {kind: ServiceAccount, name: default, namespace: other}
              - {kind: ServiceAccount, name: runner}
              - {kind: ServiceAccount, name: remote, namespace: other}
        """,
    })
    (binding,) = render(tmp_path)
    assert binding["metadata"]["namespace"] == "team"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "default", "namespace": "team"},
                                   {"kind": "ServiceAccount", "name": "runner"},
                                   {"kind": "ServiceAccount", "name": "remote", "namespace": "other"}]


# --- patches --------------------------------------------------------------------------------


def test_strategic_merge_follows_kyaml() -> None:
    """Maps merge, null removes a key, containers/env merge by name and volumeMounts by
    mountPath with the patch's elements first, `$patch: delete` removes an element, other
    lists are replaced."""
    base = yaml.safe_load(DEPLOYMENT)
    patch = yaml.safe_load("""
        spec:
          strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}
          template:
            spec:
              containers:
                - name: main
                  args: [--fast]
                  env:
                    - {name: B, value: null, valueFrom: {secretKeyRef: {name: s, key: B}}}
                    - {name: C, value: "3"}
                  volumeMounts:
                    - {mountPath: /data, $patch: delete}
                  ports:
                    - {containerPort: 8080, protocol: TCP}
              volumes:
                - {name: data, $patch: delete}
                - {name: gone, $patch: delete}
    """)
    merged = merge(base, patch)
    assert merged["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    main = container(merged, "main")
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["main", "sidecar"]
    assert main["args"] == ["--fast"] and main["image"] == "app:1"
    assert main["env"] == [{"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "B"}}},
                           {"name": "C", "value": "3"}, {"name": "A", "value": "1"}]
    assert main["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert main["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert merged["spec"]["template"]["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert base == yaml.safe_load(DEPLOYMENT), "the target is not modified"


def test_service_ports_merge_by_port_and_other_lists_are_replaced() -> None:
    service = {"spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}],
                        "externalIPs": ["10.0.0.1"]}}
    patch = {"spec": {"ports": [{"port": 81, "targetPort": 8081}], "externalIPs": ["10.0.0.2"]}}
    merged = merge(service, patch)
    assert merged["spec"]["ports"] == [{"name": "b", "port": 81, "targetPort": 8081}, {"name": "a", "port": 80}]
    assert merged["spec"]["externalIPs"] == ["10.0.0.2"]


def test_patches_by_name_or_target_and_object_deletion(tmp_path: Path) -> None:
    write(tmp_path, {
        "kustomization.yaml": HEADER + textwrap.dedent("""
            resources: [app.yaml, claim.yaml]
            patches:
              - path: replicas.yaml
              - path: any-name.yaml
                target: {kind: Deploy.*, name: ap+}
              - path: delete.yaml
        """),
        "app.yaml": DEPLOYMENT,
        "claim.yaml": "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec: {}\n",
        "replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec: {replicas: 2}\n",
        "any-name.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: whatever, labels: {x: y}}\n",
        "delete.yaml": "$patch: delete\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n",
    })
    (app,) = render(tmp_path)
    assert app["spec"]["replicas"] == 2
    assert app["metadata"]["name"] == "app", "a targeted patch does not rename its target"
    assert app["metadata"]["labels"] == {"tier": "web", "x": "y"}


@pytest.mark.parametrize(("entry", "patch", "message"), [
    ("{path: p.yaml}", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: other}\n", "matches no object"),
    ("{path: p.yaml, target: {kind: Service}}", "kind: Service\nmetadata: {name: x}\n", "matches no object"),
    ("{path: p.yaml, target: {labelSelector: a=b}}", "kind: Deployment\n", "targets support only"),
    ("{path: p.yaml}", "- {op: add, path: /spec/replicas, value: 2}\n", "JSON 6902"),
    ("{path: p.yaml}", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  $patch: replace\n",
     "only `\\$patch: delete`"),
    ("{patch: 'kind: Deployment'}", "", "need a path"),
], ids=["unmatched", "unmatched-target", "label-selector", "json6902", "replace-directive", "inline-patch"])
def test_unsupported_or_unmatched_patches_are_errors(tmp_path: Path, entry: str, patch: str, message: str) -> None:
    write(tmp_path, {"kustomization.yaml": HEADER + f"resources: [app.yaml]\npatches: [{entry}]\n",
                     "app.yaml": DEPLOYMENT, "p.yaml": patch})
    with pytest.raises(KustomizeError, match=message):
        render(tmp_path)


# --- generators -----------------------------------------------------------------------------


def test_secret_and_config_map_generators(tmp_path: Path) -> None:
    write(tmp_path, {
        "kustomization.yaml": HEADER + textwrap.dedent("""
            namespace: team
            secretGenerator:
              - name: creds
                envs: [secrets/creds.env]
                literals: ["TOKEN='a b'"]
            configMapGenerator:
              - name: settings
                literals: [MODE=fast]
            generatorOptions: {disableNameSuffixHash: true}
        """),
        "secrets/creds.env": "\ufeff# a comment\n\n  USER=me\nPASSWORD=p=\"q\" \n",
    })
    docs = by_id(render(tmp_path))
    assert list(docs) == ["ConfigMap/settings", "Secret/creds"], "ConfigMaps are generated first"
    secret = docs["Secret/creds"]
    assert secret["type"] == "Opaque" and secret["metadata"] == {"name": "creds", "namespace": "team"}
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"USER": "me", "PASSWORD": 'p="q" ', "TOKEN": "a b"}, "env values are kept verbatim"
    assert docs["ConfigMap/settings"]["data"] == {"MODE": "fast"}


def test_a_missing_env_file_names_the_secret_the_file_and_its_example(tmp_path: Path) -> None:
    write(tmp_path / "overlays" / "prod", {
        "kustomization.yaml": HEADER + "secretGenerator: [{name: db, envs: [secrets/db.env]}]\n"
                                       "generatorOptions: {disableNameSuffixHash: true}\n",
        "secrets/db.env.example": "URI=postgresql://example\n",
    })
    with pytest.raises(KustomizeError) as error:
        render(tmp_path / "overlays" / "prod")
    assert str(error.value) == ("overlays/prod: Secret 'db' needs secrets/db.env "
                                "(copy secrets/db.env.example and fill in the values)")


@pytest.mark.parametrize(("kustomization", "env", "message"), [
    ("secretGenerator: [{name: s, literals: [A=1]}]\n", "", "disableNameSuffixHash: true"),
    ("secretGenerator: [{name: s, envs: [s.env]}]\ngeneratorOptions: {disableNameSuffixHash: true}\n",
     "JUST_A_KEY\n", "expected KEY=VALUE"),
    ("secretGenerator: [{name: s, envs: [s.env], literals: [A=2]}]\n"
     "generatorOptions: {disableNameSuffixHash: true}\n", "A=1\n", "key A is given twice"),
    ("secretGenerator: [{name: s, files: [s.env]}]\ngeneratorOptions: {disableNameSuffixHash: true}\n",
     "", "support only"),
    ("secretGenerator: [{name: s, envs: [../s.env]}]\ngeneratorOptions: {disableNameSuffixHash: true}\n",
     "", "outside"),
    ("generatorOptions: {disableNameSuffixHash: true, labels: {a: b}}\n", "", "supports only disableNameSuffixHash"),
], ids=["hash-suffix", "no-equals", "duplicate-key", "files", "outside", "options"])
def test_generator_mistakes_are_errors(tmp_path: Path, kustomization: str, env: str, message: str) -> None:
    write(tmp_path / "k", {"kustomization.yaml": HEADER + kustomization, "s.env": env})
    with pytest.raises(KustomizeError, match=message):
        render(tmp_path / "k")
