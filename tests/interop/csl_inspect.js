#!/usr/bin/env node
// Outside proof harness: decodes CBOR with cardano-serialization-lib (what CIP-30 dApps use) and
// reports what it saw, so Python tests can compare it with cardano-market's own reading.
//
// stdin:  a JSON array of requests, one of
//   {"kind": "value", "hex": ...}
//   {"kind": "utxo",  "hex": ...}
//   {"kind": "tx",    "hex": ..., "linearFee": {"coefficient": "44", "constant": "155381"},
//                     "coinsPerUtxoByte": "4310"}
// stdout: a JSON array of results in the same order; a request CSL cannot handle gives
//   {"error": message} in its place rather than stopping the batch.
// Every amount is a decimal string (amounts exceed JavaScript's safe integers); bytes are hex.
'use strict';

const CSL = require('@emurgo/cardano-serialization-lib-nodejs');

function fromHex(hex) {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new Error('hex must be an even-length hex string');
  }
  return Buffer.from(hex, 'hex');
}

function toHex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

function bigNum(text, what) {
  if (typeof text !== 'string' || !/^[0-9]+$/.test(text)) {
    throw new Error(`${what} must be a decimal string`);
  }
  return CSL.BigNum.from_str(text);
}

function multiAssetJson(multiasset) {
  const out = {};
  if (!multiasset) return out;
  const policies = multiasset.keys();
  for (let i = 0; i < policies.len(); i++) {
    const policy = policies.get(i);
    const assets = multiasset.get(policy);
    const names = assets.keys();
    const byName = {};
    for (let j = 0; j < names.len(); j++) {
      const name = names.get(j);
      byName[toHex(name.name())] = assets.get(name).to_str();
    }
    out[policy.to_hex()] = byName;
  }
  return out;
}

function valueJson(value) {
  return { coin: value.coin().to_str(), multiasset: multiAssetJson(value.multiasset()) };
}

function addressJson(address) {
  let bech32 = null;
  try {
    bech32 = address.to_bech32();
  } catch (_) {
    // Byron addresses have no bech32 form.
    const byron = CSL.ByronAddress.from_address(address);
    bech32 = byron ? byron.to_base58() : null;
  }
  return { address: bech32, addressHex: address.to_hex() };
}

function inputJson(input) {
  return `${input.transaction_id().to_hex()}#${input.index()}`;
}

function inputsJson(inputs) {
  const out = [];
  if (!inputs) return out;
  for (let i = 0; i < inputs.len(); i++) out.push(inputJson(inputs.get(i)));
  return out;
}

function outputJson(output) {
  const datum = output.plutus_data();
  const dataHash = output.data_hash();
  return {
    ...addressJson(output.address()),
    ...valueJson(output.amount()),
    hasInlineDatum: datum !== undefined,
    inlineDatumHex: datum === undefined ? null : datum.to_hex(),
    dataHash: dataHash === undefined ? null : dataHash.to_hex(),
    hasScriptRef: output.has_script_ref(),
  };
}

function inspectValue(req) {
  const value = CSL.Value.from_bytes(fromHex(req.hex));
  return { ...valueJson(value), hex: value.to_hex() };
}

function inspectUtxo(req) {
  const utxo = CSL.TransactionUnspentOutput.from_bytes(fromHex(req.hex));
  return { input: inputJson(utxo.input()), ...outputJson(utxo.output()), hex: utxo.to_hex() };
}

function inspectTx(req) {
  const bytes = fromHex(req.hex);
  const fixed = CSL.FixedTransaction.from_bytes(bytes);
  const tx = CSL.Transaction.from_bytes(bytes);
  const body = tx.body();
  const fee = req.linearFee || {};
  const linearFee = CSL.LinearFee.new(
    bigNum(fee.coefficient, 'linearFee.coefficient'),
    bigNum(fee.constant, 'linearFee.constant'),
  );
  const dataCost = CSL.DataCost.new_coins_per_byte(bigNum(req.coinsPerUtxoByte, 'coinsPerUtxoByte'));
  const outputs = [];
  const minAda = [];
  const txOutputs = body.outputs();
  for (let i = 0; i < txOutputs.len(); i++) {
    const output = txOutputs.get(i);
    outputs.push(outputJson(output));
    minAda.push(CSL.min_ada_for_output(output, dataCost).to_str());
  }
  const ttl = body.ttl_bignum();
  const start = body.validity_start_interval_bignum();
  const vkeys = tx.witness_set().vkeys();
  const signers = body.required_signers();
  const requiredSigners = [];
  if (signers) for (let i = 0; i < signers.len(); i++) requiredSigners.push(signers.get(i).to_hex());
  const mint = body.mint();
  return {
    txId: fixed.transaction_hash().to_hex(),
    bodyHex: toHex(fixed.raw_body()),
    size: bytes.length,
    // CSL's min_fee prices ITS re-encoding, which tags every set with 258: a transaction whose sets
    // are untagged is priced 3 bytes per set above its real size. These two fields show that.
    reencodedSize: tx.to_bytes().length,
    setTags: CSL.TransactionSetsState[CSL.has_transaction_set_tag(bytes)],
    fee: body.fee().to_str(),
    ttl: ttl === undefined ? null : ttl.to_str(),
    validityStart: start === undefined ? null : start.to_str(),
    inputs: inputsJson(body.inputs()),
    referenceInputs: inputsJson(body.reference_inputs()),
    collateral: inputsJson(body.collateral()),
    requiredSigners,
    mintHex: mint === undefined ? null : mint.to_hex(),
    outputs,
    vkeyWitnesses: vkeys === undefined ? 0 : vkeys.len(),
    isValid: tx.is_valid(),
    minFee: CSL.min_fee(tx, linearFee).to_str(),
    minAdaPerOutput: minAda,
  };
}

const HANDLERS = { value: inspectValue, utxo: inspectUtxo, tx: inspectTx };

function inspect(req) {
  try {
    if (req === null || typeof req !== 'object') throw new Error('request must be an object');
    const handler = HANDLERS[req.kind];
    if (!handler) throw new Error(`unknown kind ${JSON.stringify(req.kind)}`);
    return handler(req);
  } catch (err) {
    // wasm-bindgen throws plain strings as often as Error objects.
    return { error: String(err && err.message !== undefined ? err.message : err) };
  }
}

function main() {
  const chunks = [];
  process.stdin.on('data', (chunk) => chunks.push(chunk));
  process.stdin.on('end', () => {
    let requests;
    try {
      requests = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      process.stderr.write(`csl_inspect: stdin is not JSON: ${err.message}\n`);
      process.exit(2);
    }
    if (!Array.isArray(requests)) {
      process.stderr.write('csl_inspect: stdin must be a JSON array of requests\n');
      process.exit(2);
    }
    process.stdout.write(JSON.stringify(requests.map(inspect)));
  });
}

main();
