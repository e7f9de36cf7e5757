#!/usr/bin/env node
// Outside proof harness: runs a transaction's Plutus scripts with aiken's evaluator
// (@lucid-evolution/uplc, `eval_phase_two_raw`) and reports each redeemer's ex-units, so Python
// tests can compare them with the devnet's own (uplc) evaluation.
//
// stdin:  a JSON array of requests
//   {"tx": hex, "inputs": [hex, ...], "outputs": [hex, ...], "costModels": hex,
//    "maxSteps": "10000000000", "maxMem": "14000000",
//    "zeroTime": "0", "zeroSlot": "0", "slotLength": 1000}
//   `inputs[i]`/`outputs[i]` are the CBOR of every spent and referenced out-ref and its output;
//   `costModels` the CBOR map {language: [parameters]}.
// stdout: a JSON array of results in the same order: {"redeemers": [hex, ...]}, each the CBOR
//   `[tag, index, data, [mem, steps]]` of one evaluated redeemer, or {"error": message}.
'use strict';

const PACKAGE = '@lucid-evolution/uplc';
let uplc = require(PACKAGE);

// A fresh WebAssembly instance: a Rust panic traps an instance ("unreachable") and leaves it
// unusable, and the evaluator does not give memory back between runs.
function reload() {
  for (const key of Object.keys(require.cache)) {
    if (key.includes('@lucid-evolution')) delete require.cache[key];
  }
  uplc = require(PACKAGE);
}
function fromHex(hex) {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function evaluate(request) {
  const answers = uplc.eval_phase_two_raw(
    fromHex(request.tx),
    request.inputs.map(fromHex),
    request.outputs.map(fromHex),
    fromHex(request.costModels),
    BigInt(request.maxSteps),
    BigInt(request.maxMem),
    BigInt(request.zeroTime),
    BigInt(request.zeroSlot),
    request.slotLength,
  );
  return { redeemers: answers.map((bytes) => Buffer.from(bytes).toString('hex')) };
}

function main() {
  const requests = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const results = requests.map((request, i) => {
    // the evaluator leaks: each run leaves the instance larger and slower (20 purchases in one
    // instance take twice as long as in fresh ones), and a long batch ends in a trap
    if (i > 0) reload();
    try {
      return evaluate(request);
    } catch (error) {
      return { error: String(error && error.message ? error.message : error) };
    }
  });
  process.stdout.write(JSON.stringify(results));
}

main();
