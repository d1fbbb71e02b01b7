#!/usr/bin/env python3
"""Render every chat template in ../shared/testdata/chat-templates (and the
fallback, engine/chat/fallback.jinja) with
Python's jinja2, the way Hugging Face transformers does (sandboxed,
trim_blocks, lstrip_blocks, raise_exception, tojson), for the conversations
in cases.json. The Go renderer's test compares against these files.

    pip install jinja2
    python3 server/testdata/chat/gen_expected.py   # from the repository root
"""
import json
import os
import sys

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "..", "..", "..", "..", "shared", "testdata", "chat-templates")
BOS, EOS = "<s>", "</s>"


def raise_exception(msg):
    raise TemplateError(msg)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    cases = json.load(open(os.path.join(HERE, "cases.json")))
    out = os.path.join(HERE, "expected")
    os.makedirs(out, exist_ok=True)
    names = sorted(f for f in os.listdir(TEMPLATES) if f.endswith(".jinja"))
    if not names:
        sys.exit(f"no templates in {TEMPLATES}")
    paths = [os.path.join(TEMPLATES, n) for n in names]
    # The server's own fallback for models without a template.
    names.append("fallback.jinja")
    paths.append(os.path.join(HERE, "..", "..", "..", "engine", "chat", "fallback.jinja"))
    for name, path in zip(names, paths):
        tmpl = env.from_string(open(path, encoding="utf-8").read())
        for c in cases:
            text = tmpl.render(messages=c["messages"], add_generation_prompt=c["add_generation_prompt"],
                               bos_token=BOS, eos_token=EOS)
            path = os.path.join(out, f"{name[:-len('.jinja')]}.{c['name']}.txt")
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
    print(f"{len(names)} templates x {len(cases)} cases -> {out}")


if __name__ == "__main__":
    main()
