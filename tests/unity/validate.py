#!/usr/bin/env python3
"""Checks a Unity package as Unity's package manager would read it, without an editor:

    validate.py PACKAGE_TARBALL

- package.json: a reverse-domain lowercase name, a semantic version, the Unity version, and
  samples whose folders exist;
- every file and folder has a .meta (folders ending in "~" are skipped by Unity, their
  contents keep theirs), and every .meta has its asset;
- GUIDs are 32 hex digits and unique;
- a native library's PluginImporter enables exactly the platforms its folder is for;
- assembly definitions are JSON with a name, and references resolve within the package.
Prints what it checked; exits non-zero on the first list of problems.
"""
import json
import re
import sys
import tarfile

PLUGIN_PLATFORMS = {
    "Runtime/Plugins/Linux/x86_64/": {("Editor", "Editor"), ("Standalone", "Linux64")},
    "Runtime/Plugins/macOS/": {("Editor", "Editor"), ("Standalone", "OSXUniversal")},
    "Runtime/Plugins/Windows/x86_64/": {("Editor", "Editor"), ("Standalone", "Win64")},
    "Runtime/Plugins/iOS/": {("iPhone", "iOS")},
}
LIBRARY = re.compile(r"\.(so|dylib|dll|a)$")

tar = tarfile.open(sys.argv[1])
members = tar.getmembers()
files = {m.name[len("package/"):]: m for m in members if m.isfile() and m.name.startswith("package/")}
problems = []
if any(not (m.name + "/").startswith("package/") for m in members):
    problems.append("the tarball has entries outside package/")


def text(name):
    return tar.extractfile(files[name]).read().decode()


manifest = json.loads(text("package.json"))
if not re.fullmatch(r"com\.[a-z0-9-]+\.[a-z0-9.-]+", manifest.get("name", "")):
    problems.append(f"package name {manifest.get('name')!r} is not reverse-domain lowercase")
if not re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", manifest.get("version", "")):
    problems.append(f"version {manifest.get('version')!r} is not semantic")
if not re.fullmatch(r"\d{4}\.\d", manifest.get("unity", "")):
    problems.append("no Unity version")

# npm packs files only; folders are implied by their contents.
dirs = set()
for name in files:
    parts = name.split("/")[:-1]
    dirs.update("/".join(parts[:i + 1]) for i in range(len(parts)))
for s in manifest.get("samples", []):
    if s["path"] not in dirs:
        problems.append(f"sample folder {s['path']} is missing")

assets = [n for n in list(files) + sorted(dirs) if not n.endswith(".meta") and n != "package"]
guids = {}
checked_plugins = 0
for asset in assets:
    if asset.endswith("~"):
        continue
    meta = asset + ".meta"
    if meta not in files:
        problems.append(f"{asset} has no .meta")
        continue
    body = text(meta)
    g = re.search(r"^guid: (\S+)$", body, re.M)
    if not g or not re.fullmatch(r"[0-9a-f]{32}", g.group(1)):
        problems.append(f"{meta}: no 32-digit GUID")
    elif g.group(1) in guids:
        problems.append(f"{meta}: GUID also used by {guids[g.group(1)]}")
    else:
        guids[g.group(1)] = meta
    if asset in dirs and "folderAsset: yes" not in body:
        problems.append(f"{meta}: a folder's .meta without folderAsset")
    if LIBRARY.search(asset):
        folder = next((f for f in PLUGIN_PLATFORMS if asset.startswith(f)), None)
        if folder is None:
            problems.append(f"{asset}: a native library outside the platform folders")
            continue
        on = set(re.findall(r"- first:\n      (\w+): (\w*)\n    second:\n      enabled: 1", body))
        if "PluginImporter:" not in body or on != PLUGIN_PLATFORMS[folder]:
            problems.append(f"{meta}: enabled for {sorted(on)}, not {sorted(PLUGIN_PLATFORMS[folder])}")
        checked_plugins += 1
for meta in (n for n in files if n.endswith(".meta")):
    if meta[:-5] not in files and meta[:-5] not in dirs:
        problems.append(f"{meta} has no asset")

asmdefs = {json.loads(text(n))["name"]: n for n in files if n.endswith(".asmdef")}
for name, path in asmdefs.items():
    for ref in json.loads(text(path)).get("references", []):
        if ref not in asmdefs:
            problems.append(f"{path} references {ref}, not in the package")

for p in problems:
    print("unity package:", p)
print(f"unity package {manifest.get('name')} {manifest.get('version')}: {len(files)} files, "
      f"{len(guids)} GUIDs, {checked_plugins} native plugin(s), {len(asmdefs)} assemblies; "
      f"{len(problems)} problems")
sys.exit(1 if problems else 0)
