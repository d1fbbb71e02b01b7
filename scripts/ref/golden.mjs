// golden.mjs writes llama.cpp reference outputs (greedy tokens, last-prompt-position
// log-probabilities) as JSON + float32 files for the engine's parity tests.
//
// usage: node golden.mjs [--out DIR] [--threads N] NAME=MODEL.gguf...
// NAME is one of the sets below; scripts/make-golden.sh runs it for all of them.
import {mkdirSync, writeFileSync} from "node:fs";
import {basename, join} from "node:path";
import {buildInfo, createContext, greedy, loadLlama, promptTokens, sha256File} from "./common.mjs";

const storyPrompts = [
    "Once upon a time",
    "Tom",
    "The cat sat on the mat. It was",
    "Lily and her mom went to the park. They saw a big tree with red apples. Lily wanted an apple, so she",
    "One day, a little boy named Ben found a shiny key in the garden. He asked his dad, \"What does this key open?\" His dad smiled and said,",
];

// Plain completion prompts (no chat template): prose, code with indentation and
// newlines, digits and a non-ASCII character.
const textPrompts = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "In 1969, Neil Armstrong walked on the Moon \u2014 the first person to do so. The next person was",
];

const sets = {
    "stories260K": {prompts: storyPrompts, n: 48, logits: false},
    "stories260K-moe4x": {prompts: storyPrompts, n: 48, logits: false},
    "smollm2-135m-instruct": {prompts: textPrompts, n: 32, logits: true},
    "gemma3-270m": {prompts: textPrompts, n: 32, logits: true},
};

function parseArgs(argv) {
    const opt = {out: "testdata/golden", threads: 2, models: []};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--out") opt.out = argv[++i];
        else if (a === "--threads") opt.threads = Number(argv[++i]);
        else if (a.includes("=")) {
            const [name, path] = [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
            if (!sets[name]) throw new Error(`unknown set "${name}", want one of ${Object.keys(sets).join(", ")}`);
            opt.models.push({name, path});
        } else throw new Error(`unexpected argument "${a}"; usage: golden.mjs [--out DIR] [--threads N] NAME=MODEL.gguf...`);
    }
    if (!Number.isInteger(opt.threads) || opt.threads < 1) throw new Error(`bad --threads ${opt.threads}`);
    if (opt.models.length === 0) throw new Error("no NAME=MODEL.gguf given");
    return opt;
}

// generate runs the prompt, then n greedy steps. It checks that every chosen token is
// an argmax of the full-vocabulary distribution (so no sampler changed anything) and
// returns the tokens and the probabilities that picked the first one.
async function generate(ctx, tokens, n) {
    const seq = ctx.getSequence();
    try {
        const out = [];
        let first = null;
        let ties = 0;
        const gen = seq.evaluateWithMetadata(tokens, {probabilities: true}, greedy);
        for await (const step of gen) {
            const probs = step.probabilities;
            // a full-size distribution means no top-k/top-p/min-p cut it down
            if (first !== null && probs.size !== first.size) throw new Error(`step ${out.length}: ${probs.size} candidates, want ${first.size}`);
            let max = -1;
            for (const p of probs.values()) if (p > max) max = p;
            const p = probs.get(step.token);
            if (p !== max) throw new Error(`step ${out.length}: token ${step.token} has p=${p}, max is ${max}: not greedy`);
            for (const [id, q] of probs) if (q === max && id !== step.token) ties++;
            if (first === null) first = probs;
            out.push(step.token);
            if (out.length === n) break;
        }
        if (out.length !== n) throw new Error(`generated ${out.length} tokens, want ${n}`);
        return {out, first, ties};
    } finally {
        await seq.clearHistory();
        seq.dispose();
    }
}

// logprobs turns node-llama-cpp's full-vocabulary softmax into natural-log probabilities
// indexed by token id. The addon computes p = expf(logit - max) / sum in float32; its
// float32 sum is off by up to ~3e-4 relative over a large vocabulary, which would shift
// every log p by the same constant, so the values are renormalized here in float64.
function logprobs(probs, nVocab) {
    if (probs.size !== nVocab) throw new Error(`got ${probs.size} probabilities, want the full vocabulary ${nVocab}`);
    let sum = 0;
    let zeros = 0;
    for (const p of probs.values()) {
        sum += p;
        if (p === 0) zeros++;
    }
    const lp = new Float32Array(nVocab);
    for (const [id, p] of probs) lp[id] = Math.log(p / sum);
    return {lp, zeros, sum};
}

// continuation is the text that tokens add after prompt (llama_detokenize of the whole
// sequence minus that of the prompt), so SentencePiece's leading space is kept.
function continuation(model, prompt, tokens) {
    const head = model.detokenize(prompt);
    const all = model.detokenize([...prompt, ...tokens]);
    if (!all.startsWith(head)) throw new Error(`detokenized prompt ${JSON.stringify(head)} is not a prefix of ${JSON.stringify(all)}`);
    return all.slice(head.length);
}

// toJSON pretty-prints but keeps arrays of numbers on one line, so diffs stay readable.
function toJSON(doc) {
    return JSON.stringify(doc, null, 1)
        .replace(/\[\s*(-?\d[\d.e+-]*(?:,\s*-?\d[\d.e+-]*)*)\s*\]/g, (_, xs) => `[${xs.split(/,\s*/).join(", ")}]`) + "\n";
}

async function run(llama, info, opt, {name, path}) {
    const set = sets[name];
    const model = await llama.loadModel({modelPath: path, gpuLayers: 0});
    const ctx = await createContext(model, {threads: opt.threads});
    const nVocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    const cases = [];
    for (const [i, prompt] of set.prompts.entries()) {
        const toks = promptTokens(model, prompt);
        const {out, first, ties} = await generate(ctx, toks, set.n);
        const eog = out.findIndex((t) => model.isEogToken(t));
        const c = {
            prompt,
            prompt_tokens: toks,
            tokens: out,
            text: continuation(model, toks, out),
            text_alone: model.detokenize(out),
            first_eog_index: eog < 0 ? null : eog,
        };
        if (ties > 0) c.argmax_ties = ties;
        if (set.logits) {
            const {lp, zeros, sum} = logprobs(first, nVocab ?? first.size);
            const file = `${name}.${i}.logits.f32`;
            writeFileSync(join(opt.out, file), Buffer.from(lp.buffer)); // little-endian on x86
            c.logits_file = file;
            c.logits_kind = "logprobs"; // also per case, for readers that look only at cases
            c.logprobs_zero_prob_count = zeros;
            c.float32_prob_sum = sum;
            c.top5 = [...first.keys()].slice(0, 5).map((id) => ({id, logprob: lp[id], piece: continuation(model, toks, [id])}));
        }
        cases.push(c);
        process.stderr.write(`${name} #${i}: ${toks.length} prompt tokens -> ${JSON.stringify(c.text)}\n`);
    }
    const doc = {
        model: name,
        model_file: basename(path),
        model_sha256: await sha256File(path),
        n_vocab: nVocab ?? null,
        llamacpp: info,
        settings: {
            backend: "CPU",
            threads: opt.threads,
            context_size: ctx.contextSize,
            batch_size: ctx.batchSize,
            sequences: 1,
            flash_attention: false,
            kv_cache_type: "f16",
            add_special: true,
            parse_special: false,
            sampler: "greedy: temperature 0 (llama_sampler_init_greedy only), no repeat/frequency/presence/DRY penalty, no top-k/top-p/min-p/XTC, no bias; checked argmax at every step",
            continue_past_eog: true,
        },
        n_predict: set.n,
        ...(set.logits ? {
            logits_kind: "logprobs",
            logits_format: "little-endian float32[n_vocab] per case, natural-log softmax of the last prompt position's logits (the distribution that picks tokens[0]), i.e. logits minus their logsumexp; from llama.cpp's float32 probabilities renormalized in float64 (float32_prob_sum is the sum before that); p == 0 in float32 gives -Infinity. Compare with an absolute tolerance (about 1e-4 between identical builds, more across kernels).",
        } : {}),
        cases,
    };
    writeFileSync(join(opt.out, `${name}.json`), toJSON(doc));
    await ctx.dispose();
    await model.dispose();
}

const opt = parseArgs(process.argv.slice(2));
mkdirSync(opt.out, {recursive: true});
const llama = await loadLlama();
const info = buildInfo(llama);
for (const m of opt.models) await run(llama, info, opt, m);
await llama.dispose();
