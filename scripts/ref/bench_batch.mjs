// bench_batch.mjs measures llama.cpp's aggregate decode speed for N sequences of
// one prompt in one context: node-llama-cpp gathers the sequences' pending tokens
// into one llama_decode batch per step, so N sequences decode N tokens a step.
//
// usage: node bench_batch.mjs MODEL.gguf [--threads 2] [--prompt 32] [--gen 64] [--n 1,4,16,64]
// Prints one JSON line per N. Sampling is temperature 0.8, top-k 40, top-p 0.95
// with a different seed per sequence (as `bench moe` samples), so the sequences
// diverge and route their tokens to different experts. The clock starts once
// every sequence has its first token, so the prefills are left out.
import {basename} from "node:path";
import {buildInfo, loadLlama} from "./common.mjs";

function parseArgs(argv) {
    const opt = {model: null, threads: 2, prompt: 32, gen: 64, ns: [1, 4, 16, 64]};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const num = (s) => {
            const v = Number(s);
            if (!Number.isInteger(v) || v < 1) throw new Error(`bad value for ${a}: ${s}`);
            return v;
        };
        if (a === "--threads") opt.threads = num(argv[++i]);
        else if (a === "--prompt") opt.prompt = num(argv[++i]);
        else if (a === "--gen") opt.gen = num(argv[++i]);
        else if (a === "--n") opt.ns = String(argv[++i]).split(",").map(num);
        else if (!a.startsWith("--") && opt.model === null) opt.model = a;
        else throw new Error(`unexpected argument "${a}"; usage: bench_batch.mjs MODEL.gguf [--threads N] [--prompt N] [--gen N] [--n 1,4,16,64]`);
    }
    if (opt.model === null) throw new Error("no model given; usage: bench_batch.mjs MODEL.gguf");
    return opt;
}

// promptOf is bench.mjs's prompt: exactly n tokens of ordinary text.
function promptOf(model, n) {
    const text = "Once upon a time, in a small village by the sea, there lived a girl named Lily. " +
        "Every morning she walked to the harbor to watch the boats come in, and every evening " +
        "she told her little brother stories about the places the sailors had seen. ";
    let toks = model.tokenize(text.repeat(Math.ceil(n / 8)), false);
    if (model.tokens.shouldPrependBosToken && model.tokens.bos != null) toks = [model.tokens.bos, ...toks];
    if (toks.length < n) throw new Error(`prompt text gives only ${toks.length} tokens, want ${n}`);
    return toks.slice(0, n);
}

// run decodes n sequences at once and returns the decode-phase figures.
async function run(model, opt, n, prompt) {
    const perSeq = opt.prompt + opt.gen + 16;
    const ctx = await model.createContext({
        contextSize: n * perSeq,
        batchSize: Math.max(512, n * opt.prompt),
        sequences: n,
        threads: {ideal: opt.threads, min: opt.threads},
        flashAttention: false,
    });
    if (ctx.currentThreads !== opt.threads) throw new Error(`context uses ${ctx.currentThreads} threads, want ${opt.threads}`);
    try {
        const stamps = []; // per sequence: time of each generated token
        const one = async (i) => {
            const seq = ctx.getSequence();
            const t = [];
            stamps.push(t);
            const sampling = {temperature: 0.8, topK: 40, topP: 0.95, seed: 1 + i, repeatPenalty: false, yieldEogToken: true};
            for await (const _ of seq.evaluate(prompt, sampling)) {
                t.push(process.hrtime.bigint());
                if (t.length === opt.gen) break;
            }
            if (t.length !== opt.gen) throw new Error(`sequence ${i}: ${t.length} tokens, want ${opt.gen}`);
        };
        await Promise.all(Array.from({length: n}, (_, i) => one(i)));
        const start = stamps.reduce((m, t) => (t[0] > m ? t[0] : m), 0n);
        const end = stamps.reduce((m, t) => (t[t.length - 1] > m ? t[t.length - 1] : m), 0n);
        const tokens = stamps.reduce((s, t) => s + t.filter((x) => x > start).length, 0);
        const seconds = Number(end - start) / 1e9;
        return {n, decode_tokens: tokens, decode_seconds: seconds, decode_tps: tokens / seconds};
    } finally {
        await ctx.dispose();
    }
}

const opt = parseArgs(process.argv.slice(2));
const llama = await loadLlama();
const info = buildInfo(llama);
const model = await llama.loadModel({modelPath: opt.model, gpuLayers: 0});
const prompt = promptOf(model, opt.prompt);
await run(model, {...opt, gen: 4}, 1, prompt); // warm-up: page in the weights
const round = (x) => Math.round(x * 100) / 100;
for (const n of opt.ns) {
    const r = await run(model, opt, n, prompt);
    console.log(JSON.stringify({
        model: basename(opt.model), threads: opt.threads, prompt_tokens: opt.prompt, gen_tokens: opt.gen,
        n: r.n, decode_tokens: r.decode_tokens, decode_seconds: round(r.decode_seconds), decode_tps: round(r.decode_tps),
        llamacpp_version: `${info.repo}@${info.release} (llama ${info.llama_version}, node-llama-cpp ${info.packages["node-llama-cpp"]})`,
    }));
}
await model.dispose();
await llama.dispose();
