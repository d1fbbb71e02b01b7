// vocab-gptoss.mjs tokenizes a fixed set of texts with llama.cpp (node-llama-cpp,
// vocabulary-only load) for the gpt-oss tokenizer tests in model/tokenizer.
//
// usage: node vocab-gptoss.mjs --gguf-dir DIR --inp FILE.inp --out FILE.json [--random N]
//
// DIR holds gpt-oss-vocab-PRE.gguf for each PRE of llama.cpp's GPT4O pre-tokenizer
// (written by the Go converter: go test ./model/tokenizer -run TestWriteGptOssVocab with
// GPTOSS_VOCAB_OUT=DIR). The golden ids come from the "gpt-4o" file; every other file must
// tokenize identically (that checks that llama.cpp maps these names to the same regex).
// FILE.inp is llama.cpp's ggml-vocab-*.gguf.inp format (texts separated by
// "\n__ggml_vocab_test__\n"); its texts come first, then this script's own.
import {readFileSync, writeFileSync} from "node:fs";
import {basename, join} from "node:path";
import {buildInfo, loadLlama, sha256File} from "./common.mjs";

const pres = ["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"];

// Texts for the o200k regex as llama.cpp runs it: contractions in both cases, digit runs,
// \r\n, trailing white space, "[\r\n/]*", code, CJK, emoji, accented and non-Latin
// capitals (llama.cpp's collapsed regex sees no case outside ASCII), and gpt-oss's
// harmony special tokens.
const own = [
    "DON'T", "I'm", "they'RE", "WE'VE you'll SHE'D it's IT'S", "o'clock rock'n'roll", "'s 'S x' ABC'll",
    "McDonald's", "Don'tStop", "he'SX", "'", "''", "a'", "A'Ll",
    "1", "12", "123", "1234", "1234567", "3.14159", "1,000,000", "v2.0.1", "x1y22z333",
    "\u0663\u0664\u0665\u0666\u0667", "x\u00b2\u00b3", "\u216b\u216c", "\u4e00\u4e8c\u4e09",
    "\r\n", "a\r\nb", "\r\n\r\n", " \r\n ", "line1\r\nline2\n\n\nline3\r", "\n\n\n", "\r", "x\n\ry",
    "hello ", "hello   ", "hello\t", "a  b", "   leading", "\t\tindented", "a \n b", "end.  \n",
    "a/b\n/", "path/to/file\n/usr/bin\n//", "http://example.com/a/b?c=d&e=f#g", "x ///\r\n/ y",
    "def f(x):\n    return x**2 + 1\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "<div class=\"x\">Hi</div>", "SELECT * FROM t WHERE id='42';", "if(a&&b||!c){return;}",
    "\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4",
    "\ud83e\udd99\ud83e\udd99 \ud83d\ude80 \ud83d\ude36\u200d\ud83c\udf2b\ufe0f \ud83d\udc4d\ud83c\udffd \ud83c\uddeb\ud83c\uddf7",
    "\u2705 done", "\ud83d\udca9\n",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9", "\u00c0B \u00c9COLE \u00c7a", "\u00c6r\u00f8sk\u00f8bing", "\ufb01ne",
    "cafe\u0301 e\u0301", "Stra\u00dfe STRASSE", "\u00c0bC a\u00c0B \u00c0\u00c0B \u00c9T\u00c9 \u00e9T\u00e9",
    "\u041f\u0420\u0418\u0412\u0415\u0422 \u041c\u0438\u0440", "\u041c\u041e\u0421\u041a\u0412\u0410",
    "\u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438",
    "\u0391\u0392\u0393 \u03b1\u03b2\u03b3", "\u0130stanbul", "\u0627\u0644\u0633\u0644\u0627\u0645 \u0639\u0644\u064a\u0643\u0645",
    "\u0928\u092e\u0938\u094d\u0924\u0947", "HelloWorld", "iPhone", "HTTPServer", "camelCaseVar", "XMLHttpRequest",
    "ABC", "aBC", "AbC", "Ab'S", "\u00c0'S", "the.Quick", "?ABC", "\u00bfQu\u00e9?",
    "a\u00a0b", "a\u00a0\u00a0b", "\u3000\u3000x", "x\u2028y", "tab\tsep", "\u000b\u000c", "a\u000bb",
    "", " ", "  ", "\n", "\t",
    "<|start|>user<|message|>Hello<|end|><|start|>assistant<|channel|>analysis<|message|>Think.<|end|>" +
        "<|start|>assistant<|channel|>final<|message|>Hi!<|return|>",
    "<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>",
    "<|startoftext|>x<|endoftext|>", "<|reserved_200000|><|endofprompt|>", "<|start|", "<|start|><|start|>",
    " <|end|> ", "text<|return|>more",
    "The harbour town woke slowly that morning. Fishing boats rocked against the old stone pier; " +
        "\"It's closed to visitors,\" the man said, \"has been for years.\" He arrived on the 7:15 train.",
];

// randomTexts makes n short texts from code points that exercise each branch of the regex
// (ASCII case, contractions, digit runs, white space kinds, "/" after newlines, non-ASCII
// letters, numbers, marks, symbols and spaces, harmony special tokens), from a fixed seed.
function randomTexts(n, seed) {
    const pool = [..."aAbZzsStTrReEvVlLmMdD''0123456789   \t\n\n\r\v\f//.,!?-_\"()",
        "\u00c0", "\u00e9", "\u00df", "\u041f", "\u0436", "\u03a3", "\u4e2d", "\ud83d\ude00", "\u0301", "\u094d",
        "\u00a0", "\u3000", "\u2028", "\u0663", "\u00b2", "\u2167", "\u20ac", "\u00ab", "\u0085", "\u200d",
        "<|end|>", "<|return|>", "<|start|>", "<|"];
    let x = seed >>> 0;
    const rnd = (k) => { // mulberry32
        x = (x + 0x6d2b79f5) >>> 0;
        let t = x;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) % k;
    };
    const out = [];
    for (let i = 0; i < n; i++) {
        let s = "";
        for (let m = 1 + rnd(24); m > 0; m--) s += pool[rnd(pool.length)];
        out.push(s);
    }
    return out;
}

function parseArgs(argv) {
    const opt = {random: 400};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--gguf-dir") opt.dir = argv[++i];
        else if (a === "--inp") opt.inp = argv[++i];
        else if (a === "--out") opt.out = argv[++i];
        else if (a === "--random") opt.random = Number(argv[++i]);
        else throw new Error(`unexpected argument "${a}"; usage: vocab-gptoss.mjs --gguf-dir DIR --inp FILE.inp --out FILE.json [--random N]`);
    }
    if (!opt.dir || !opt.inp || !opt.out) throw new Error("--gguf-dir, --inp and --out are required");
    return opt;
}

const opt = parseArgs(process.argv.slice(2));
const named = [...readFileSync(opt.inp, "utf8").split("\n__ggml_vocab_test__\n"), ...own];
const texts = [...named, ...randomTexts(opt.random, 20260)];
const llama = await loadLlama();

// run tokenizes every text without and with special-token parsing and detokenizes the
// ids as llama_detokenize(remove_special=false, unparse_special=false/true).
async function run(path) {
    // node-llama-cpp first simulates a full load to estimate memory; that part logs
    // "missing tensor 'token_embd.weight'" for this tensor-less file, the vocab-only load works.
    const model = await llama.loadModel({modelPath: path, vocabOnly: true});
    try {
        const eog = [];
        for (let id = 0; id < 201088; id++) if (model.isEogToken(id)) eog.push(id);
        return {
            bos: model.tokens.bos, eos: model.tokens.eos, add_bos: model.tokens.shouldPrependBosToken, eog,
            cases: texts.map((text) => {
                const ids = Array.from(model.tokenize(text, false));
                const idsSpecial = Array.from(model.tokenize(text, true));
                return {
                    text,
                    ids,
                    ids_special: idsSpecial,
                    decoded: model.detokenize(ids, false),
                    decoded_special: model.detokenize(idsSpecial, true),
                };
            }),
        };
    } finally {
        await model.dispose();
    }
}

const file = (pre) => join(opt.dir, `gpt-oss-vocab-${pre}.gguf`);
const ref = await run(file("gpt-4o"));
for (const pre of pres.slice(1)) {
    const other = await run(file(pre));
    other.cases.forEach((c, i) => {
        const r = ref.cases[i];
        if (JSON.stringify([c.ids, c.ids_special]) !== JSON.stringify([r.ids, r.ids_special]))
            throw new Error(`pre-tokenizer "${pre}" tokenizes ${JSON.stringify(c.text)} as ${c.ids}, "gpt-4o" as ${r.ids}`);
    });
}

const out = {
    comment: "llama.cpp's tokenization of gpt-oss's vocabulary; regenerate with scripts/make-golden.sh",
    gguf_file: basename(file("gpt-4o")),
    gguf_sha256: await sha256File(file("gpt-4o")),
    same_as_gpt4o: pres.slice(1),
    inp_file: basename(opt.inp),
    n_inp: named.length - own.length,
    llamacpp: buildInfo(llama),
    bos: ref.bos,
    eos: ref.eos,
    add_bos: ref.add_bos,
    eog: ref.eog,
    cases: ref.cases.slice(0, named.length),
    random: ref.cases.slice(named.length).map(({text, ids, ids_special}) => ({text, ids, ids_special})),
};
writeFileSync(opt.out, JSON.stringify(out, null, 1) + "\n");
process.stderr.write(`vocab-gptoss: ${texts.length} texts, ${pres.length} pre-tokenizer names agree -> ${opt.out}\n`);
