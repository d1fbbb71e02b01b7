#!/usr/bin/env python3
"""Render the shared chat templates (../shared/testdata/chat-templates) and
engine/chat/fallback.jinja with Python's jinja2, as Hugging Face
transformers does, for the tool conversations in cases.json: tools as the
template's `tools`, assistant `tool_calls` with their arguments decoded
(as llama.cpp and vLLM pass them), tool messages with `tool_call_id`. A
template that raises writes "ERROR: message". engine/chat's Go test
compares its renderer against these files.

    pip install jinja2
    python3 engine/chat/testdata/tools/gen_expected.py   # from the repository root
"""
import json
import os
import sys

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..", "..")
TEMPLATES = os.path.join(ROOT, "..", "shared", "testdata", "chat-templates")
BOS, EOS = "<s>", "</s>"


def raise_exception(msg):
    raise TemplateError(msg)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def tool(t):
    fn = {"name": t["name"]}
    if t.get("description"):
        fn["description"] = t["description"]
    if "parameters" in t:
        fn["parameters"] = t["parameters"]
    return {"type": "function", "function": fn}


def arguments(a):
    try:
        v = json.loads(a)
    except ValueError:
        return a
    return v if isinstance(v, dict) else a


def message(m):
    out = {"role": m["role"], "content": m.get("content") or ""}
    if m.get("name"):
        out["name"] = m["name"]
    if m.get("tool_calls"):
        out["tool_calls"] = [{"id": c["id"], "type": "function",
                              "function": {"name": c["function"]["name"], "arguments": arguments(c["function"]["arguments"])}}
                             for c in m["tool_calls"]]
    if m.get("tool_call_id"):
        out["tool_call_id"] = m["tool_call_id"]
    return out


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    data = json.load(open(os.path.join(HERE, "cases.json")))
    tools = [tool(t) for t in data["tools"]]
    out = os.path.join(HERE, "expected")
    os.makedirs(out, exist_ok=True)
    names = sorted(f for f in os.listdir(TEMPLATES) if f.endswith(".jinja"))
    if not names:
        sys.exit(f"no templates in {TEMPLATES}")
    paths = [os.path.join(TEMPLATES, n) for n in names]
    names.append("fallback.jinja")
    paths.append(os.path.join(ROOT, "engine", "chat", "fallback.jinja"))
    for name, path in zip(names, paths):
        tmpl = env.from_string(open(path, encoding="utf-8").read())
        for c in data["cases"]:
            kw = dict(messages=[message(m) for m in c["messages"]], add_generation_prompt=c["add_generation_prompt"],
                      bos_token=BOS, eos_token=EOS)
            if c["tools"]:
                kw["tools"] = tools
            try:
                text = tmpl.render(**kw)
            except TemplateError as e:
                text = f"ERROR: {e}"
            with open(os.path.join(out, f"{name[:-len('.jinja')]}.{c['name']}.txt"), "w", encoding="utf-8", newline="") as f:
                f.write(text)
    print(f"{len(names)} templates x {len(data['cases'])} cases -> {out}")


if __name__ == "__main__":
    main()
