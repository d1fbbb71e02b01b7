// bench.mjs measures llama.cpp's CPU speed through node-llama-cpp: prefill of a
// 128-token prompt in one batch, then 128 greedy decode steps.
//
// usage: node bench.mjs MODEL.gguf [--threads 2] [--prompt 128] [--gen 128] [--reps 3]
// Prints one JSON line; prefill_tps and decode_tps are the best of --reps runs
// (after one unmeasured warm-up run), the runs themselves are listed too.
import {loadavg} from "node:os";
import {basename} from "node:path";
import {buildInfo, createContext, greedy, loadLlama} from "./common.mjs";

function parseArgs(argv) {
    const opt = {model: null, threads: 2, prompt: 128, gen: 128, reps: 3};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const num = () => {
            const v = Number(argv[++i]);
            if (!Number.isInteger(v) || v < 1) throw new Error(`bad value for ${a}: ${argv[i]}`);
            return v;
        };
        if (a === "--threads") opt.threads = num();
        else if (a === "--prompt") opt.prompt = num();
        else if (a === "--gen") opt.gen = num();
        else if (a === "--reps") opt.reps = num();
        else if (!a.startsWith("--") && opt.model === null) opt.model = a;
        else throw new Error(`unexpected argument "${a}"; usage: bench.mjs MODEL.gguf [--threads N] [--prompt N] [--gen N] [--reps N]`);
    }
    if (opt.model === null) throw new Error("no model given; usage: bench.mjs MODEL.gguf [--threads N]");
    return opt;
}

// promptOf returns exactly n tokens of ordinary text (BOS first when the vocabulary
// wants it), so every model sees a realistic prompt of the same length.
function promptOf(model, n) {
    const text = "Once upon a time, in a small village by the sea, there lived a girl named Lily. " +
        "Every morning she walked to the harbor to watch the boats come in, and every evening " +
        "she told her little brother stories about the places the sailors had seen. ";
    let toks = model.tokenize(text.repeat(Math.ceil(n / 8)), false);
    if (model.tokens.shouldPrependBosToken && model.tokens.bos != null) toks = [model.tokens.bos, ...toks];
    if (toks.length < n) throw new Error(`prompt text gives only ${toks.length} tokens, want ${n}`);
    return toks.slice(0, n);
}

// once times one prefill (the prompt in one batch, until the first token is sampled)
// and opt.gen decode steps after it, on a fresh sequence.
async function once(ctx, prompt, gen) {
    const seq = ctx.getSequence();
    try {
        let n = 0;
        const t0 = process.hrtime.bigint();
        let t1 = 0n;
        for await (const _ of seq.evaluate(prompt, greedy)) {
            if (n === 0) t1 = process.hrtime.bigint();
            if (n === gen) break;
            n++;
        }
        const t2 = process.hrtime.bigint();
        if (n !== gen) throw new Error(`decoded ${n} tokens, want ${gen}`);
        return {
            prefill_tps: prompt.length / (Number(t1 - t0) / 1e9),
            decode_tps: gen / (Number(t2 - t1) / 1e9),
        };
    } finally {
        await seq.clearHistory();
        seq.dispose();
    }
}

const opt = parseArgs(process.argv.slice(2));
const load = loadavg()[0]; // other busy processes wreck llama.cpp's spinning thread pool
const llama = await loadLlama();
const info = buildInfo(llama);
const model = await llama.loadModel({modelPath: opt.model, gpuLayers: 0});
const ctx = await createContext(model, {
    threads: opt.threads,
    contextSize: Math.max(512, opt.prompt + opt.gen + 16),
    batchSize: Math.max(512, opt.prompt),
});
const prompt = promptOf(model, opt.prompt);
await once(ctx, prompt, Math.min(opt.gen, 16)); // warm-up: page in the weights
const runs = [];
for (let i = 0; i < opt.reps; i++) runs.push(await once(ctx, prompt, opt.gen));
const round = (x) => Math.round(x * 100) / 100;
console.log(JSON.stringify({
    model: basename(opt.model),
    threads: opt.threads,
    prompt_tokens: opt.prompt,
    gen_tokens: opt.gen,
    prefill_tps: round(Math.max(...runs.map((r) => r.prefill_tps))),
    decode_tps: round(Math.max(...runs.map((r) => r.decode_tps))),
    llamacpp_version: `${info.repo}@${info.release} (llama ${info.llama_version}, commit ${info.llama_commit}, node-llama-cpp ${info.packages["node-llama-cpp"]})`,
    loadavg_1m: round(load),
    runs: runs.map((r) => ({prefill_tps: round(r.prefill_tps), decode_tps: round(r.decode_tps)})),
}));
await ctx.dispose();
await model.dispose();
await llama.dispose();
