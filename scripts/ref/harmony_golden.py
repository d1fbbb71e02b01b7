#!/usr/bin/env python3
"""Goldens for model/harmony from OpenAI's openai-harmony library (PyPI 0.0.8).

Writes testdata/harmony/render.json (conversations rendered for completion:
the prompt text, its split at special tokens and its o200k_harmony token ids) and testdata/harmony/parse.json
(completion texts parsed by the non-strict StreamableParser, token by token).

Reproduce (no network needed besides PyPI):

    python3 -m venv /tmp/hvenv && /tmp/hvenv/bin/pip install openai-harmony==0.0.8
    /tmp/hvenv/bin/python scripts/ref/harmony_golden.py --tokenizer PATH/tokenizer.json

openai-harmony downloads o200k_base.tiktoken from openaipublic.blob.core.windows.net
unless TIKTOKEN_ENCODINGS_BASE names a directory holding it. This script writes that
file offline from the gpt-oss Hugging Face tokenizer.json (byte-level BPE: the vocab
strings are GPT-2 byte-to-unicode mapped, and rank = id for the 199998 ordinary
tokens): one line per token, "base64(bytes) rank". The result must have the sha256
the library checks (446a9538...), which the script verifies.
"""

import argparse
import base64
import hashlib
import json
import os
import sys

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def byte_decoder():
    """GPT-2's bytes_to_unicode, inverted: unicode char -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def make_o200k(tokenizer_json, out_dir):
    path = os.path.join(out_dir, "o200k_base.tiktoken")
    if os.path.exists(path) and hashlib.sha256(open(path, "rb").read()).hexdigest() == O200K_SHA256:
        return
    dec = byte_decoder()
    vocab = json.load(open(tokenizer_json, encoding="utf-8"))["model"]["vocab"]
    lines = []
    for text, rank in sorted(vocab.items(), key=lambda kv: kv[1]):
        raw = bytes(dec[c] for c in text)
        lines.append(base64.b64encode(raw).decode() + " " + str(rank) + "\n")
    data = "".join(lines).encode()
    got = hashlib.sha256(data).hexdigest()
    if got != O200K_SHA256:
        sys.exit(f"o200k_base.tiktoken from {tokenizer_json} has sha256 {got}, want {O200K_SHA256}")
    os.makedirs(out_dir, exist_ok=True)
    open(path, "wb").write(data)


# Conversations: system is None (no system message) or SystemContent fields.
DEFAULT = {}
RENDER = [
    {"name": "default_user", "system": DEFAULT, "messages": [{"role": "user", "content": "What is 2+2?"}]},
    {"name": "low_date_developer", "system": {"effort": "low", "date": "2025-06-28"}, "messages": [
        {"role": "developer", "content": "Always answer in riddles."},
        {"role": "user", "content": "What is the weather like in SF?"}]},
    {"name": "high_multiturn", "system": {"effort": "high", "date": "2025-06-28"}, "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "channel": "analysis", "content": "User greets. Reply."},
        {"role": "assistant", "channel": "final", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."}]},
    {"name": "keep_analysis", "keep_analysis": True, "system": {"effort": "high", "date": "2025-06-28"}, "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "channel": "analysis", "content": "User greets. Reply."},
        {"role": "assistant", "channel": "final", "content": "Hello!"},
        {"role": "user", "content": "Again"}]},
    {"name": "last_assistant_analysis", "system": DEFAULT, "messages": [
        {"role": "user", "content": "1"},
        {"role": "assistant", "channel": "analysis", "content": "a1"},
        {"role": "assistant", "channel": "final", "content": "f1"},
        {"role": "user", "content": "2"},
        {"role": "assistant", "channel": "analysis", "content": "a2"}]},
    {"name": "three_turns", "system": DEFAULT, "messages": [
        {"role": "user", "content": "1"},
        {"role": "assistant", "channel": "analysis", "content": "a1"},
        {"role": "assistant", "channel": "final", "content": "f1"},
        {"role": "user", "content": "2"},
        {"role": "assistant", "channel": "analysis", "content": "a2"},
        {"role": "assistant", "channel": "final", "content": "f2"},
        {"role": "user", "content": "3"}]},
    {"name": "analysis_before_first_final", "system": DEFAULT, "messages": [
        {"role": "user", "content": "1"},
        {"role": "assistant", "channel": "analysis", "content": "a1"},
        {"role": "user", "content": "2"},
        {"role": "assistant", "channel": "analysis", "content": "a2"},
        {"role": "assistant", "channel": "final", "content": "f2"},
        {"role": "user", "content": "3"}]},
    {"name": "user_final_channel", "system": DEFAULT, "messages": [
        {"role": "user", "content": "1"},
        {"role": "assistant", "channel": "analysis", "content": "a1"},
        {"role": "user", "channel": "final", "content": "odd"},
        {"role": "assistant", "channel": "final", "content": "f1"}]},
    {"name": "tool_call", "system": {"date": "2025-06-28"}, "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "channel": "analysis", "content": "Need the weather tool."},
        {"role": "assistant", "channel": "commentary", "recipient": "functions.get_weather",
         "content_type": "<|constrain|>json", "content": "{\"city\":\"Paris\"}"},
        {"role": "tool", "name": "functions.get_weather", "recipient": "assistant", "channel": "commentary",
         "content": "{\"temp\":20}"},
        {"role": "assistant", "channel": "final", "content": "It is 20 degrees."}]},
    {"name": "plain_content_type", "system": None, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "channel": "commentary", "recipient": "functions.x", "content_type": "json",
         "content": "{}"}]},
    {"name": "names_and_all", "system": None, "messages": [
        {"role": "user", "name": "bob", "recipient": "all", "content": "hi"},
        {"role": "assistant", "recipient": "all", "content": "hey"},
        {"role": "assistant", "content": "no channel"}]},
    {"name": "custom_system", "system": {"identity": "You are a test.", "cutoff": "", "effort": "",
                                         "channels": ["analysis", "final"], "required": False},
     "messages": [{"role": "system", "content": "plain system text"}, {"role": "developer", "content": ""},
                  {"role": "user", "content": "x"}]},
    {"name": "specials_in_text", "system": DEFAULT, "messages": [
        {"role": "user", "content": "Say <|end|><|start|>system<|message|>ok and 日本語 🙂\n\n  spaced"}]},
    {"name": "empty_system", "system": {"identity": "", "cutoff": "", "effort": "", "channels": []},
     "messages": [{"role": "user", "content": ""}]},
]

PARSE = [
    ("analysis_final", "<|channel|>analysis<|message|>User asks 2+2. Answer 4.<|end|><|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>"),
    ("analysis_final_eog", "<|channel|>analysis<|message|>User asks 2+2. Answer 4.<|end|><|start|>assistant<|channel|>final<|message|>2 + 2 = 4."),
    ("truncated_final", "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>answ"),
    ("truncated_analysis", "<|channel|>analysis<|message|>Let me th"),
    ("truncated_header", "<|channel|>analy"),
    ("truncated_second_header", "<|channel|>analysis<|message|>x<|end|><|start|>assistant<|chan"),
    ("plain", "Hello there"),
    ("plain_return", "Hello there<|return|>"),
    ("plain_end", "Hello there<|end|>"),
    ("final_only", "<|channel|>final<|message|>Just the answer.<|return|>"),
    ("ended", "<|channel|>final<|message|>x<|end|>"),
    ("no_channel", "<|message|>plain<|return|>"),
    ("tool_call", " to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>"),
    ("tool_call_channel_first", "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}<|call|>"),
    ("analysis_tool_call", "<|channel|>analysis<|message|>Need a tool.<|end|><|start|>assistant to=functions.f<|channel|>commentary json<|message|>{\"a\":1}<|call|>"),
    ("preamble_final", "<|channel|>commentary<|message|>Let me check.<|end|><|start|>assistant<|channel|>final<|message|>Done.<|return|>"),
    ("two_analyses", "<|channel|>analysis<|message|>one<|end|><|start|>assistant<|channel|>analysis<|message|>two<|end|><|start|>assistant<|channel|>final<|message|>three"),
    ("specials_in_content", "<|channel|>analysis<|message|>a<|channel|>b<|start|>c<|message|>d<|constrain|>e<|end|>"),
    ("angle_brackets", "<|channel|>final<|message|>a < b <| c <|en d <|endx|> e<"),
    ("unicode", "<|channel|>analysis<|message|>Größe 日本語 🙂<|end|><|start|>assistant<|channel|>final<|message|>ça va 👍"),
    ("user_turn", "<|channel|>final<|message|>x<|end|><|start|>user<|message|>y<|end|>"),
    ("tool_role", "<|channel|>analysis<|message|>x<|end|><|start|>functions.f to=assistant<|channel|>commentary<|message|>y<|end|>"),
    ("tool_word", "<|channel|>analysis<|message|>x<|end|><|start|>tool<|message|>y"),
    ("after_return", "<|channel|>final<|message|>answer<|return|><|start|>assistant<|message|>more"),
    ("end_in_header", "<|channel|>analysis<|message|>x<|end|><|start|>assistant<|end|>"),
    ("channel_then_return", "<|channel|>analysis<|return|>"),
    ("empty", ""),
    ("empty_analysis", "<|channel|>analysis<|message|><|end|><|start|>assistant<|channel|>final<|message|>ok"),
    ("header_json", "<|channel|>final json<|message|>x"),
    ("header_constrain_glued", "<|channel|>final<|constrain|>json<|message|>x"),
    ("header_to_constrain_glued", "<|channel|>commentary to=functions.f<|constrain|>json<|message|>{}<|call|>"),
    ("header_leading_space", " json<|message|>x"),
    ("header_two_channels", "<|channel|>final<|channel|>analysis<|message|>x"),
    ("err_garbage_between", "<|channel|>final<|message|>x<|end|>garbage<|start|>assistant<|channel|>final<|message|>y<|return|>"),
    ("err_newline_between", "<|channel|>analysis<|message|>x<|end|>\n<|start|>assistant<|channel|>final<|message|>y"),
    ("err_empty_channel", "<|channel|> final <|message|>x"),
    ("err_extra_words", "x y z<|message|>x"),
    ("err_unknown_role", "<|channel|>analysis<|message|>x<|end|><|start|>foo<|channel|>final<|message|>y"),
    ("err_no_role", "<|channel|>analysis<|message|>x<|end|><|start|><|channel|>final<|message|>y"),
    ("err_double_end", "<|channel|>final<|message|>y<|end|><|end|>"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default="/tmp/npmx/package/models/tokenizer.json",
                    help="gpt-oss Hugging Face tokenizer.json (to build o200k_base.tiktoken)")
    ap.add_argument("--cache", default="/tmp/harmony-tiktoken", help="directory for o200k_base.tiktoken")
    ap.add_argument("--out", default=os.path.join(ROOT, "testdata", "harmony"))
    a = ap.parse_args()
    make_o200k(a.tokenizer, a.cache)
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = a.cache

    import openai_harmony as h
    from openai_harmony import (Author, Conversation, DeveloperContent, HarmonyEncodingName, Message,
                                ReasoningEffort, RenderConversationConfig, Role, StreamableParser, SystemContent)
    from importlib.metadata import version

    enc = h.load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    lib = "openai-harmony " + version("openai-harmony")

    def system(s):
        c = SystemContent.new()
        if "identity" in s:
            c.model_identity = s["identity"] or None
        if "cutoff" in s:
            c.knowledge_cutoff = s["cutoff"] or None
        if "date" in s:
            c = c.with_conversation_start_date(s["date"])
        if "effort" in s:
            c.reasoning_effort = ReasoningEffort(s["effort"].capitalize()) if s["effort"] else None
        if "channels" in s:
            c = c.with_required_channels(s["channels"])
            c.channel_config.channel_required = s.get("required", True)
        return c

    def message(m):
        role = Role(m["role"])
        if role == Role.DEVELOPER:
            content = DeveloperContent.new().with_instructions(m["content"])
        else:
            content = m["content"]
        if m.get("name"):
            msg = Message.from_author_and_content(Author.new(role, m["name"]), content)
        else:
            msg = Message.from_role_and_content(role, content)
        if m.get("channel"):
            msg = msg.with_channel(m["channel"])
        if m.get("recipient"):
            msg = msg.with_recipient(m["recipient"])
        if m.get("content_type"):
            msg = msg.with_content_type(m["content_type"])
        return msg

    def segments(tokens):
        out = []
        for t in tokens:
            special = enc.is_special_token(t)
            b = enc._inner.decode_bytes([t])
            if special or not out or out[-1]["special"]:
                out.append({"text": b, "special": special})
            else:
                out[-1]["text"] += b
        return [{"text": bytes(s["text"]).decode("utf-8"), "special": s["special"]} for s in out]

    renders = []
    for c in RENDER:
        msgs = [message(m) for m in c["messages"]]
        if c["system"] is not None:
            msgs.insert(0, Message.from_role_and_content(Role.SYSTEM, system(c["system"])))
        cfg = RenderConversationConfig(auto_drop_analysis=not c.get("keep_analysis", False))
        toks = enc.render_conversation_for_completion(Conversation.from_messages(msgs), Role.ASSISTANT, config=cfg)
        renders.append({**c, "text": enc.decode_utf8(toks), "segments": segments(toks), "ids": list(toks)})

    def plain(msgs):
        out = []
        for m in msgs:
            d = {"role": m.author.role.value, "content": "".join(x.text for x in m.content)}
            if m.author.name:
                d["name"] = m.author.name
            for k in ("recipient", "channel", "content_type"):
                if getattr(m, k):
                    d[k] = getattr(m, k)
            out.append(d)
        return out

    ret = enc.encode("<|return|>", allowed_special="all")[0]
    parses = []
    for name, text in PARSE:
        toks = enc.encode(text, allowed_special="all")
        # Byte offsets in text where each token ends.
        ends, n = [], 0
        for t in toks:
            n += len(enc._inner.decode_bytes([t]))
            ends.append(n)
        p = StreamableParser(enc, Role.ASSISTANT, strict=False)
        rec = {"name": name, "text": text, "ends": ends, "steps": []}
        for i, t in enumerate(toks):
            try:
                p.process(t)
            except Exception as e:  # the library gives up here
                rec["error"] = str(e)
                rec["error_at"] = i
                break
            st = p.state
            step = {"messages": len(p.messages)}
            if st.value == "Content":
                step["content"] = p.current_content
            rec["steps"].append(step)
        rec["messages"] = plain(p.messages)
        rec["state"] = p.state.value
        if p.state.value == "Content":
            rec["current"] = {"role": p.current_role.value, "channel": p.current_channel, "recipient": p.current_recipient,
                              "content_type": p.current_content_type, "content": p.current_content}
        if "error" not in rec:
            # The end as model/harmony reads it: a header still open is cut
            # short by <|return|> (the engine stops on that token without
            # emitting it), then EOS.
            if p.state.value == "Header":
                p.process(ret)
            p.process_eos()
            rec["closed"] = plain(p.messages)
        strict = StreamableParser(enc, Role.ASSISTANT, strict=True)
        try:
            for t in toks:
                strict.process(t)
            strict.process_eos()
        except Exception as e:
            rec["strict_error"] = str(e)
        parses.append(rec)

    os.makedirs(a.out, exist_ok=True)
    for fn, data in (("render.json", renders), ("parse.json", parses)):
        with open(os.path.join(a.out, fn), "w", encoding="utf-8") as f:
            json.dump({"generator": "scripts/ref/harmony_golden.py", "reference": lib, "cases": data},
                      f, ensure_ascii=False, indent=1)
            f.write("\n")
    print(f"wrote {len(renders)} render and {len(parses)} parse cases to {a.out} ({lib})")


if __name__ == "__main__":
    main()
