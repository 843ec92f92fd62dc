// Reference side of bench_tokenizer: @lenml/tokenizers (the transformers.js tokenizers, npm) on the same text.
// usage: node lenml_tokenize.mjs MODEL_DIR TEXT_FILE
//   -> one JSON line {"seconds": s, "tokens": n, "first": [...], "checksum": c}
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { TokenizerLoader } from "@lenml/tokenizers";

const [dir, textFile] = process.argv.slice(2);
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8")),
});
const text = readFileSync(textFile, "utf8");
tokenizer.encode(text.slice(0, 20000), { add_special_tokens: false });  // warm-up (JIT)
const start = performance.now();
const ids = tokenizer.encode(text, { add_special_tokens: false });
const seconds = (performance.now() - start) / 1000;
// A checksum of every id (position-weighted, mod 2^31), so the C++ side can check all of them.
let sum = 0;
for (let i = 0; i < ids.length; ++i) sum = (sum + ((i % 1000003) + 1) * ids[i]) % 2147483647;
console.log(JSON.stringify({ seconds, tokens: ids.length, first: ids.slice(0, 20), checksum: sum }));
