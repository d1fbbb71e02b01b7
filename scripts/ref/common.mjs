// Shared helpers for golden.mjs and bench.mjs: load llama.cpp (prebuilt, CPU only)
// through node-llama-cpp and describe exactly which build it is.
import {createHash} from "node:crypto";
import {createReadStream, readFileSync} from "node:fs";
import {execFileSync} from "node:child_process";
import {dirname, join} from "node:path";
import {fileURLToPath} from "node:url";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

// The packages live in scripts/ref/node_modules (some do not export package.json).
const pkgDir = (name) => join(dirname(fileURLToPath(import.meta.url)), "node_modules", name);

// loadLlama returns the prebuilt CPU build; it never compiles or downloads.
export async function loadLlama() {
    const llama = await getLlama({
        gpu: false,
        build: "never",
        usePrebuiltBinaries: true,
        skipDownload: true,
        progressLogs: false,
        maxThreads: 0, // let each context use exactly the threads it asks for
        logLevel: LlamaLogLevel.error,
    });
    if (llama.gpu !== false) throw new Error(`expected a CPU-only llama.cpp, got gpu=${llama.gpu}`);
    return llama;
}

// createContext makes a single-sequence context on the CPU with a fixed thread count.
// Flash attention is off and the KV cache keeps llama.cpp's default type (F16).
export async function createContext(model, {threads, contextSize = 512, batchSize = 512}) {
    const ctx = await model.createContext({
        contextSize,
        batchSize,
        sequences: 1,
        threads: {ideal: threads, min: threads},
        flashAttention: false,
    });
    if (ctx.currentThreads !== threads) {
        throw new Error(`context uses ${ctx.currentThreads} threads, want ${threads}`);
    }
    return ctx;
}

function pkgVersion(name) {
    return JSON.parse(readFileSync(join(pkgDir(name), "package.json"), "utf8")).version;
}

// llamaBuild reads version and commit from the prebuilt shared libraries themselves.
// node-llama-cpp does not expose them, so python3 ctypes calls llama_commit() etc.
function llamaBuild() {
    const bins = join(pkgDir("@node-llama-cpp/linux-x64"), "bins", "linux-x64");
    const py = `
import ctypes, json, sys
d = sys.argv[1]
base = ctypes.CDLL(d + "/libggml-base.so", mode=ctypes.RTLD_GLOBAL)
ctypes.CDLL(d + "/libggml.v0.4.0.so", mode=ctypes.RTLD_GLOBAL)
lib = ctypes.CDLL(d + "/libllama.v0.4.0.so", mode=ctypes.RTLD_GLOBAL)
common = ctypes.CDLL(d + "/libllama-common.so")
def s(lib, fn):
    f = getattr(lib, fn); f.restype = ctypes.c_char_p; return f().decode()
print(json.dumps({
    "llama_version": s(lib, "llama_version"),
    "llama_commit": s(common, "_Z12llama_commitv"),
    "ggml_version": s(base, "ggml_version"),
    "ggml_commit": s(base, "ggml_commit"),
    "compiler": s(common, "_Z14llama_compilerv"),
}))`;
    try {
        return JSON.parse(execFileSync("python3", ["-c", py, bins], {encoding: "utf8"}));
    } catch (err) {
        process.stderr.write(`warning: cannot read the llama.cpp commit from ${bins}: ${err.message}\n`);
        return {llama_commit: "unknown"};
    }
}

// buildInfo describes the llama.cpp in use, for the golden files and the bench output.
export function buildInfo(llama) {
    const rel = llama.llamaCppRelease;
    return {
        repo: rel.repo,
        release: rel.release,
        ...llamaBuild(),
        build_type: llama.buildType,
        system_info: llama.systemInfo.trim(),
        packages: {
            "node-llama-cpp": pkgVersion("node-llama-cpp"),
            "@node-llama-cpp/linux-x64": pkgVersion("@node-llama-cpp/linux-x64"),
        },
    };
}

export function sha256File(path) {
    return new Promise((resolve, reject) => {
        const h = createHash("sha256");
        createReadStream(path)
            .on("data", (b) => h.update(b))
            .on("end", () => resolve(h.digest("hex")))
            .on("error", reject);
    });
}

// promptTokens tokenizes like llama.cpp with add_special=true, parse_special=false:
// BOS is prepended only when the vocabulary asks for it (tokenizer.ggml.add_bos_token).
export function promptTokens(model, text) {
    const toks = model.tokenize(text, false);
    if (model.tokens.shouldPrependBosToken && model.tokens.bos != null) return [model.tokens.bos, ...toks];
    return toks;
}

// greedy is the sampler setting for argmax decoding: temperature 0 selects llama.cpp's
// greedy sampler alone; penalties, DRY, XTC and biases are all left out.
export const greedy = {temperature: 0, repeatPenalty: false, yieldEogToken: true};
