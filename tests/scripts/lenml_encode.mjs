// Reference ids for TokenizersAsShipped: @lenml/tokenizers (transformers.js' tokenizers) on each text of a JSON file,
// with the model's special tokens (add_special_tokens: true), as transformers' tokenizer(text) gives them.
// usage: node lenml_encode.mjs TOKENIZER_DIR TEXTS_JSON  -> {"ids": [[...], ...]}
import { readFileSync } from "node:fs";
import { TokenizerLoader } from "@lenml/tokenizers";

const [dir, textsFile] = process.argv.slice(2);
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8")),
});
const texts = JSON.parse(readFileSync(textsFile, "utf8")).texts;
console.log(JSON.stringify({ ids: texts.map((t) => Array.from(tokenizer.encode(t, { add_special_tokens: true }))) }));
