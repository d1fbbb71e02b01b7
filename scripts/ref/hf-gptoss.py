#!/usr/bin/env python3
"""hf-gptoss.py GOLDEN.json TOKENIZER.json: add the official Hugging Face tokenization
(the `tokenizers` library, pip install tokenizers) of every case to the golden file that
vocab-gptoss.mjs wrote, as "hf_ids". HF always matches added tokens in the text, so hf_ids
compare with llama.cpp's ids_special (parse_special=true). model/tokenizer's tests list the
texts where the two differ (llama.cpp is the reference the Go tokenizer follows)."""
import json
import sys

import tokenizers

golden_path, tok_path = sys.argv[1], sys.argv[2]
tok = tokenizers.Tokenizer.from_file(tok_path)
with open(golden_path, encoding="utf-8") as f:
    golden = json.load(f)
golden["hf_tokenizers_version"] = tokenizers.__version__
diff = 0
for c in golden["cases"]:
    c["hf_ids"] = tok.encode(c["text"], add_special_tokens=False).ids
    diff += c["hf_ids"] != c["ids_special"]


def dumps(g):
    """JSON with one line per case, so that regenerated files diff well."""
    enc = lambda v: json.dumps(v, ensure_ascii=False)
    parts = []
    for k, v in g.items():
        if k in ("cases", "random"):
            parts.append(f" {enc(k)}: [\n  " + ",\n  ".join(enc(c) for c in v) + "\n ]")
        else:
            parts.append(f" {enc(k)}: {enc(v)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


with open(golden_path, "w", encoding="utf-8") as f:
    f.write(dumps(golden))
print(f"hf-gptoss: {len(golden['cases'])} texts, {diff} tokenized differently by llama.cpp", file=sys.stderr)
