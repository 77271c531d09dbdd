#!/usr/bin/env python3
"""Makes the Unity package com.fwasr.fwasr (a UPM package folder) from the sources: the C#
binding as a runtime assembly, the native libraries given under Runtime/Plugins/<platform>/
with the import settings of their platform, a microphone sample, and a .meta for every file
and folder. GUIDs are derived from paths, so the same file keeps its GUID from one release to
the next and projects' references to it survive an upgrade.

    unity-package.py OUT_DIR [PLATFORM=LIBRARY ...]

PLATFORM is linux-x64, osx (universal), win-x64 or ios (the static library: fwasr is linked
into the app and called through "__Internal"). `npm pack OUT_DIR/com.fwasr.fwasr` makes the
tarball Unity's package manager installs ("Add package from tarball").
"""
import hashlib
import json
import pathlib
import re
import shutil
import sys

NAME = "com.fwasr.fwasr"
ROOT = pathlib.Path(__file__).resolve().parent.parent

# Where each platform's library goes (named as DllImport("fwasr") finds it), and the
# PluginImporter platforms it is enabled for (Unity's names: the editor on that OS, and the
# player).
PLATFORMS = {
    "linux-x64": ("Linux/x86_64/libfwasr.so", [("Editor", "Editor", {"OS": "Linux", "CPU": "x86_64"}),
                                   ("Standalone", "Linux64", {"CPU": "x86_64"})]),
    "osx": ("macOS/libfwasr.dylib", [("Editor", "Editor", {"OS": "OSX", "CPU": "AnyCPU"}),
                      ("Standalone", "OSXUniversal", {"CPU": "AnyCPU"})]),
    "win-x64": ("Windows/x86_64/fwasr.dll", [("Editor", "Editor", {"OS": "Windows", "CPU": "x86_64"}),
                                   ("Standalone", "Win64", {"CPU": "x86_64"})]),
    "ios": ("iOS/libfwasr.a", [("iPhone", "iOS", {"CPU": "ARM64", "AddToEmbeddedBinaries": "false"})]),
}
# Every platform a plugin's settings name, enabled or not, so Unity never guesses.
ALL_TARGETS = [("Any", ""), ("Editor", "Editor"), ("Standalone", "Linux64"), ("Standalone", "OSXUniversal"),
               ("Standalone", "Win64"), ("iPhone", "iOS")]

SAMPLE = "Samples~/Microphone"


def guid(rel):
    return hashlib.md5(f"{NAME}/{rel}".encode()).hexdigest()


def importer(kind, body=""):
    return (f"{kind}:\n  externalObjects: {{}}\n{body}"
            "  userData: \n  assetBundleName: \n  assetBundleVariant: \n")


def plugin_meta(enabled):
    on = {(a, b): settings for a, b, settings in enabled}
    lines = ["  serializedVersion: 2", "  iconMap: {}", "  executionOrder: {}", "  defineConstraints: []",
             "  isPreloaded: 0", "  isOverridable: 0", "  isExplicitlyReferenced: 0", "  validateReferences: 1",
             "  platformData:"]
    for key, value in ALL_TARGETS:
        settings = on.get((key, value))
        lines += ["  - first:", f"      {key}: {value}", "    second:", f"      enabled: {int(settings is not None)}"]
        if settings:
            lines.append("      settings:")
            lines += [f"        {k}: {v}" for k, v in settings.items()]
        else:
            lines.append("      settings: {}")
    return importer("PluginImporter", "\n".join(lines) + "\n")


def meta_for(path, plugin=None):
    if path.is_dir():
        body = "folderAsset: yes\n" + importer("DefaultImporter")
    elif plugin is not None:
        body = plugin_meta(plugin)
    elif path.suffix == ".cs":
        body = importer("MonoImporter", "  serializedVersion: 2\n  defaultReferences: []\n  executionOrder: 0\n"
                                        "  icon: {instanceID: 0}\n")
    elif path.suffix == ".asmdef":
        body = importer("AssemblyDefinitionImporter")
    elif path.name == "package.json":
        body = importer("PackageManifestImporter")
    else:
        body = importer("TextScriptImporter")
    return body


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1]) / NAME
    libraries = dict(arg.split("=", 1) for arg in sys.argv[2:])
    unknown = set(libraries) - set(PLATFORMS)
    if unknown:
        sys.exit(f"unknown platform(s) {sorted(unknown)}; known: {sorted(PLATFORMS)}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    version = re.search(r'^version = "([0-9.]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)

    (out / "package.json").write_text(json.dumps({
        "name": NAME,
        "version": version,
        "displayName": "fwasr: streaming speech-to-text",
        "description": "Stream live audio (a microphone, a call) to the Fireworks streaming "
                       "transcription WebSocket and get the transcript as it evolves. Native "
                       "library with a C# API that never blocks the audio thread.",
        "unity": "2021.3",
        "license": "MIT OR Apache-2.0",
        "keywords": ["speech-to-text", "transcription", "streaming", "microphone"],
        "samples": [{"displayName": "Microphone transcript",
                     "description": "Streams the default microphone and shows the transcript.",
                     "path": SAMPLE}],
    }, indent=2) + "\n")
    (out / "README.md").write_text(
        f"# {NAME}\n\nfwasr for Unity: `Fwasr.Session` streams audio pushed with `TryPush` (from "
        "`OnAudioFilterRead`, a microphone clip or a capture thread) and raises events. "
        "`Config.OnEvent(handler, SynchronizationContext.Current)` called on the main thread "
        "delivers them on the main thread. Import the \"Microphone transcript\" sample from the "
        "package manager for a working scene script. On iOS the static library is linked into "
        "the app (`__Internal`).\n")

    runtime = out / "Runtime"
    runtime.mkdir()
    shutil.copy(ROOT / "bindings/csharp/Fwasr.cs", runtime / "Fwasr.cs")
    (runtime / "Fwasr.Runtime.asmdef").write_text(json.dumps({
        "name": "Fwasr.Runtime", "rootNamespace": "Fwasr", "references": [], "includePlatforms": [],
        "excludePlatforms": [], "allowUnsafeCode": False, "autoReferenced": True,
    }, indent=2) + "\n")
    plugins = {}
    for platform, library in sorted(libraries.items()):
        place, enabled = PLATFORMS[platform]
        dest = runtime / "Plugins" / place
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(library, dest)
        plugins[dest] = enabled

    sample = out / SAMPLE
    sample.mkdir(parents=True)
    shutil.copy(ROOT / "tests/unity/MicrophoneTranscript.cs", sample / "MicrophoneTranscript.cs")
    (sample / "Fwasr.Samples.Microphone.asmdef").write_text(json.dumps({
        "name": "Fwasr.Samples.Microphone", "references": ["Fwasr.Runtime"], "autoReferenced": False,
    }, indent=2) + "\n")

    # A .meta beside every file and folder (Unity ignores folders ending in "~", but the sample
    # keeps its GUIDs when it is imported into a project, so it has them too).
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if rel == "Samples~":
            continue
        meta = path.parent / (path.name + ".meta")
        meta.write_text(f"fileFormatVersion: 2\nguid: {guid(rel)}\n" + meta_for(path, plugins.get(path)))
    print(out)


if __name__ == "__main__":
    main()
