"""A small Kustomize renderer for the tests of deploy/kubernetes (no `kubectl kustomize` here).

It handles what our kustomizations use, the way Kustomize does: `resources` (files, or folders with their own
kustomization), `namespace` (set on every namespaced object), `patches` given by `path` (strategic merge, matched
by kind and name: maps merge, lists of named maps merge by name, other lists are replaced), `images`, and
`secretGenerator` / `configMapGenerator` from `literals` and `envs` (names without a hash suffix: our overlay sets
`disableNameSuffixHash`, which the tests check). Anything else in a kustomization is refused, so the renderer cannot
silently ignore what real Kustomize would apply.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "patches", "images", "secretGenerator",
             "configMapGenerator", "generatorOptions"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
                  "StorageClass"}


def render(folder: Path) -> list[dict[str, Any]]:
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise ValueError(f"{folder}: this renderer does not handle {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = folder / entry
        if path.is_dir():
            objects += render(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    if spec.get("generatorOptions", {}).get("disableNameSuffixHash") is not True and (
            spec.get("secretGenerator") or spec.get("configMapGenerator")):
        raise ValueError(f"{folder}: generated names would carry a hash suffix this renderer does not compute")
    for generator in spec.get("secretGenerator", []):
        data = _generated_data(folder, generator)
        objects.append({"apiVersion": "v1", "kind": "Secret", "type": generator.get("type", "Opaque"),
                        "metadata": {"name": generator["name"]},
                        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})
    for generator in spec.get("configMapGenerator", []):
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]},
                        "data": _generated_data(folder, generator)})
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise ValueError(f"{folder}: only `path` patches are handled, got {patch}")
        for doc in yaml.safe_load_all((folder / patch["path"]).read_text()):
            target = _find(objects, doc["kind"], doc["metadata"]["name"])
            merged = merge(target, doc)
            target.clear()
            target.update(merged)
    for image in spec.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    return objects


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge of `patch` into `base` (a new value; neither argument changes)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and all(
            isinstance(x, dict) and "name" in x for x in base + patch):
        merged_list = [dict(x) for x in base]
        for item in patch:
            same = [i for i, x in enumerate(merged_list) if x["name"] == item["name"]]
            if same:
                merged_list[same[0]] = merge(merged_list[same[0]], item)
            else:
                merged_list.append(item)
        return merged_list
    return patch


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


_find = find


def _generated_data(folder: Path, generator: dict[str, Any]) -> dict[str, str]:
    data = {}
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    for env_file in generator.get("envs", []):
        for line in (folder / env_file).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value
    return data


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])
