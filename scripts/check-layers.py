#!/usr/bin/env python3
"""The workspace's layering: crates/ (the product), ops/ (what builds and runs a deployment),
dev/ (local tooling). A crate's normal and build dependencies stay in its own folder or a
folder above it in that order; only dev-dependencies (tests, benches) may reach below, so
nothing deployed links an emulation, a test kit or the tour.

Usage: scripts/check-layers.py            # judge `cargo metadata` of this workspace
       scripts/check-layers.py --self-test
"""
import json
import pathlib
import subprocess
import sys

LAYERS = ["crates", "ops", "dev"]


def layer(manifest: str, root: str) -> int | None:
    rel = pathlib.Path(manifest).relative_to(root).parts
    return LAYERS.index(rel[0]) if rel and rel[0] in LAYERS else None


def violations(metadata: dict) -> list[str]:
    root = metadata["workspace_root"]
    members = set(metadata["workspace_members"])
    by_name = {}
    for p in metadata["packages"]:
        if p["id"] in members:
            by_name[p["name"]] = p
    found = []
    for p in by_name.values():
        own = layer(p["manifest_path"], root)
        for d in p["dependencies"]:
            if d.get("kind") == "dev" or d["name"] not in by_name:
                continue
            theirs = layer(by_name[d["name"]]["manifest_path"], root)
            if own is not None and theirs is not None and theirs > own:
                found.append(
                    f"{p['name']} ({LAYERS[own]}/) depends on {d['name']} ({LAYERS[theirs]}/)"
                )
    return sorted(found)


def self_test() -> None:
    def pkg(name, folder, deps):
        return {
            "id": name,
            "name": name,
            "manifest_path": f"/w/{folder}/{name}/Cargo.toml",
            "dependencies": deps,
        }

    meta = {
        "workspace_root": "/w",
        "workspace_members": ["a", "b", "t"],
        "packages": [
            pkg("a", "crates", [{"name": "t", "kind": "dev"}]),
            pkg("b", "ops", [{"name": "a", "kind": None}]),
            pkg("t", "dev", [{"name": "a", "kind": None}]),
        ],
    }
    assert violations(meta) == [], violations(meta)
    meta["packages"][0]["dependencies"].append({"name": "t", "kind": None})
    assert violations(meta) == ["a (crates/) depends on t (dev/)"], violations(meta)
    meta["packages"][0]["dependencies"] = [{"name": "b", "kind": "build"}]
    assert violations(meta) == ["a (crates/) depends on b (ops/)"], violations(meta)
    print("check-layers self-test: 3 cases OK")


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    meta = json.loads(out)
    found = violations(meta)
    members = len(meta["workspace_members"])
    if found:
        print("Layering broken (a crate may depend on its own folder or one above it):")
        for v in found:
            print(f"  {v}")
        return 1
    print(f"Layering: {members} crates, every dependency stays in its folder or goes up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
