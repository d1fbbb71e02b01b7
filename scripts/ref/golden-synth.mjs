// golden-synth.mjs writes llama.cpp reference outputs for the synthetic models of
// package model/synth (greedy tokens, last-prompt-position log-probabilities), as
// JSON + float32 files, with the same settings as golden.mjs.
//
// usage: node golden-synth.mjs [--out DIR] [--threads N] MODEL.gguf...
// Each output is named after the model file (synth-llama-f32.gguf -> synth-llama-f32.json).
// scripts/make-golden-synth.sh builds the models and runs this on all of them.
import {mkdirSync, writeFileSync} from "node:fs";
import {basename, join} from "node:path";
import {buildInfo, createContext, greedy, loadLlama, promptTokens, sha256File} from "./common.mjs";

// The last prompt is longer than gemma3's sliding window (8 tokens), and every
// prompt plus its continuation runs past it.
const prompts = [
    "Once upon a time",
    "The cat sat on the mat. It was",
    "Lily and her mom went to the park. They saw a big tree with red apples. Lily wanted an apple, so she",
];
// Models with gpt-oss's vocabulary also get a prompt in its harmony chat format,
// whose special tokens llama.cpp matches even without special-token parsing.
const harmonyPrompt = "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n" +
    "Reasoning: low<|end|><|start|>user<|message|>What is 17 × 23? Answer briefly.<|end|><|start|>assistant";
const nPredict = 24;

function parseArgs(argv) {
    const opt = {out: "testdata/golden/synth", threads: 2, models: []};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--out") opt.out = argv[++i];
        else if (a === "--threads") opt.threads = Number(argv[++i]);
        else if (a.endsWith(".gguf")) opt.models.push(a);
        else throw new Error(`unexpected argument "${a}"; usage: golden-synth.mjs [--out DIR] [--threads N] MODEL.gguf...`);
    }
    if (!Number.isInteger(opt.threads) || opt.threads < 1) throw new Error(`bad --threads ${opt.threads}`);
    if (opt.models.length === 0) throw new Error("no MODEL.gguf given");
    return opt;
}

// generate runs the prompt and n greedy steps, checking each chosen token is an argmax
// of the full distribution. It returns the tokens, the first step's probabilities and
// the smallest log-probability margin between the chosen token and the runner-up.
async function generate(ctx, tokens, n) {
    const seq = ctx.getSequence();
    try {
        const out = [];
        let first = null;
        let minGap = Infinity;
        for await (const step of seq.evaluateWithMetadata(tokens, {probabilities: true}, greedy)) {
            const probs = step.probabilities;
            if (first !== null && probs.size !== first.size) throw new Error(`step ${out.length}: ${probs.size} candidates, want ${first.size}`);
            let p1 = -1;
            let p2 = -1;
            for (const p of probs.values()) {
                if (p > p1) [p1, p2] = [p, p1];
                else if (p > p2) p2 = p;
            }
            if (probs.get(step.token) !== p1) throw new Error(`step ${out.length}: token ${step.token} is not an argmax: not greedy`);
            minGap = Math.min(minGap, Math.log(p1) - Math.log(p2));
            if (first === null) first = probs;
            out.push(step.token);
            if (out.length === n) break;
        }
        if (out.length !== n) throw new Error(`generated ${out.length} tokens, want ${n}`);
        return {out, first, minGap};
    } finally {
        await seq.clearHistory();
        seq.dispose();
    }
}

// logprobs: natural-log probabilities by token id, renormalized in float64 (the addon's
// float32 sum is slightly off; see golden.mjs).
function logprobs(probs, nVocab) {
    if (probs.size !== nVocab) throw new Error(`got ${probs.size} probabilities, want the full vocabulary ${nVocab}`);
    let sum = 0;
    for (const p of probs.values()) sum += p;
    const lp = new Float32Array(nVocab);
    for (const [id, p] of probs) lp[id] = Math.log(p / sum);
    return {lp, sum};
}

function continuation(model, prompt, tokens) {
    const head = model.detokenize(prompt);
    const all = model.detokenize([...prompt, ...tokens]);
    if (!all.startsWith(head)) throw new Error(`detokenized prompt ${JSON.stringify(head)} is not a prefix of ${JSON.stringify(all)}`);
    return all.slice(head.length);
}

// specsOf names the model/synth function that defines the model.
function specsOf(name) {
    if (name.endsWith("-o200k")) return "GPTOSSVocabSpec()";
    return name.includes("moe") || name.includes("gpt-oss") ? "MoESpecs()" : "Specs()";
}

// Pretty JSON with arrays of numbers kept on one line.
function toJSON(doc) {
    return JSON.stringify(doc, null, 1)
        .replace(/\[\s*(-?\d[\d.e+-]*(?:,\s*-?\d[\d.e+-]*)*)\s*\]/g, (_, xs) => `[${xs.split(/,\s*/).join(", ")}]`) + "\n";
}

async function run(llama, info, opt, path) {
    const name = basename(path, ".gguf");
    const model = await llama.loadModel({modelPath: path, gpuLayers: 0});
    const ctx = await createContext(model, {threads: opt.threads});
    const meta = model.fileInfo.metadata;
    const nVocab = meta?.tokenizer?.ggml?.tokens?.length;
    if (!nVocab) throw new Error(`${path}: no tokenizer.ggml.tokens`);
    const cases = [];
    const all = meta.tokenizer.ggml.tokens.includes("<|start|>") ? [...prompts, harmonyPrompt] : prompts;
    for (const [i, prompt] of all.entries()) {
        const toks = promptTokens(model, prompt);
        const {out, first, minGap} = await generate(ctx, toks, nPredict);
        const {lp, sum} = logprobs(first, nVocab);
        const file = `${name}.${i}.logits.f32`;
        writeFileSync(join(opt.out, file), Buffer.from(lp.buffer)); // little-endian on x86
        cases.push({
            prompt,
            prompt_tokens: toks,
            tokens: out,
            text: continuation(model, toks, out),
            min_greedy_logprob_gap: minGap,
            logits_file: file,
            logits_kind: "logprobs",
            float32_prob_sum: sum,
        });
        process.stderr.write(`${name} #${i}: ${toks.length} prompt tokens -> ${JSON.stringify(cases.at(-1).text)} (min gap ${minGap.toFixed(3)})\n`);
    }
    const doc = {
        model: name,
        model_file: basename(path),
        model_sha256: await sha256File(path),
        architecture: meta?.general?.architecture ?? null,
        n_vocab: nVocab,
        generator: `go run ./model/synth/cmd/synth (package model/synth, ${specsOf(name)})`,
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
            sampler: "greedy: temperature 0 (llama_sampler_init_greedy only), no penalties, no top-k/top-p/min-p/XTC, no bias; checked argmax at every step",
            continue_past_eog: true,
        },
        n_predict: nPredict,
        logits_kind: "logprobs",
        logits_format: "little-endian float32[n_vocab] per case (logits_file, beside this file): natural-log softmax of the last prompt position's logits, renormalized in float64 from llama.cpp's float32 probabilities",
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
