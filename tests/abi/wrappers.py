#!/usr/bin/env python3
"""The C++, C# and Swift front ends against include/fwasr.h: every function, every field of
fwasr_event, fwasr_stats, fwasr_segment and fwasr_word, and every value of the header's enums must be in
each wrapper (or in the reviewed exclusions below). A field or function added to the header
without its wrapper counterparts fails this test.

    wrappers.py SOURCE_DIR
"""
import pathlib
import re
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
header = (src / "include/fwasr.h").read_text()
wrappers = {
    "C++": (src / "include/fwasr.hpp").read_text(),
    "C#": (src / "bindings/csharp/Fwasr.cs").read_text(),
    "Swift": (src / "bindings/swift/Sources/FwasrKit/Fwasr.swift").read_text(),
}

# Reviewed: what a wrapper leaves out on purpose, and why.
EXCLUDED = {
    # Wrappers own their strings and snapshots: freeing C objects is internal.
    ("C#", "function", "fwasr_segments_free"): "",
}

functions = sorted(set(re.findall(r"^[a-z][^;()]*\b(fwasr_[a-z0-9_]+)\(", header, re.M)))


def struct_fields(name):
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), header, re.S).group(1)
    body = re.sub(r"//[^\n]*", "", body)
    return re.findall(r"\b([a-z_][a-z0-9_]*)\s*;", body)


def enum_values(name):
    body = re.search(r"enum %s \{(.*?)\} %s;" % (name, name), header, re.S).group(1)
    body = re.sub(r"//[^\n]*", "", body)
    return [(n, int(v)) for n, v in re.findall(r"\b(FWASR_[A-Z0-9_]+) = (-?\d+)", body)]


structs = {s: struct_fields(s) for s in ("fwasr_event", "fwasr_stats", "fwasr_segment", "fwasr_word")}
enums = {e: enum_values(e) for e in ("fwasr_status", "fwasr_event_type", "fwasr_format", "fwasr_state", "fwasr_log_level")}
defines = re.findall(r"^#define (FWASR_URL_[A-Z0-9_]+) ", header, re.M)


def camel(snake):
    parts = snake.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def pascal(snake):
    return "".join(p[:1].upper() + p[1:] for p in snake.split("_"))


missing = []


def need(lang, kind, name, present):
    if not present and (lang, kind, name) not in EXCLUDED:
        missing.append(f"{lang}: {kind} {name}")


for lang, text in wrappers.items():
    for f in functions:
        need(lang, "function", f, re.search(r"\b%s\b" % f, text))
    # Every field is read out of the C struct: e.field (C++, Swift) or raw.field (C#).
    for struct, fields in structs.items():
        for field in fields:
            if lang == "C#":
                ok = re.search(r"\braw\w*\.%s\b" % field, text) or re.search(
                    r"public [\w<>\[\]]+ [\w, ]*\b%s\b" % field, text) and re.search(r"\b%s\b" % pascal(field), text)
            else:
                # Read field by field, or the C struct itself handed out (then every field is).
                ok = re.search(r"\b\w+(\.|->)%s\b" % field, text) or re.search(
                    r"(\b%s\s+\w+\(|->\s*%s\b)" % (struct, struct), text)
            need(lang, f"{struct} field", field, ok)
    for define in defines:
        need(lang, "endpoint", define, re.search(r"\b%s\b" % define, text) or re.search(
            r"\b%s\b" % pascal(define[len("FWASR_URL_"):].lower()), text))
    # C++ and Swift use the C enums themselves; C# declares its own, value by value.
    if lang == "C#":
        for enum, values in enums.items():
            cs = pascal(enum[len("fwasr_"):])
            body = re.search(r"public enum %s\b[^{]*\{(.*?)\}" % cs, text, re.S)
            have = set(int(v) for v in re.findall(r"=\s*(-?\d+)", body.group(1))) if body else set()
            for name, value in values:
                need(lang, f"enum {cs} value", f"{name} = {value}", value in have)

counts = f"{len(functions)} functions, {sum(map(len, structs.values()))} struct fields, " \
         f"{sum(map(len, enums.values()))} enum values, {len(defines)} endpoints"
for m in missing:
    print("missing", m)
print(f"wrappers: {counts}; {len(missing)} missing")
sys.exit(1 if missing else 0)
