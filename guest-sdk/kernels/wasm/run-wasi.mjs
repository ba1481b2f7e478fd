// Runs a wasm32-wasip1 test binary under Node's WASI (Node 20+: SIMD is always on).
// usage: node run-wasi.mjs TEST.wasm [test args...]; exits with the binary's status.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
import process from "node:process";

const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: "preview1", args: [file, ...args], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
