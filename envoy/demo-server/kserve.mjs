// KServe V2 / Open Inference Protocol (Triton, MLServer, KServe) and TorchServe inference.
// The "model" is deterministic: every V2 input comes back as an identity output plus one `sum`,
// and a TorchServe prediction is a label derived from the body's hash.
import { isObject } from "./http.mjs";
import { prng, seedOf, sha256Hex } from "./tokens.mjs";

const NUMERIC = new Set(["UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"]);
const MAX_INPUTS = 64;
const MAX_RANK = 8;

function invalid(message) {
  return { error: { status: 400, body: { error: message } } };
}

// Flattens row-major nested data; V2 allows both flat and nested `data`. Depth is bounded by the
// shape's rank, so a hostile nesting depth cannot recurse far.
function flatten(data, depth, out) {
  for (const item of data) {
    if (Array.isArray(item)) {
      if (depth >= MAX_RANK) return false;
      if (!flatten(item, depth + 1, out)) return false;
    } else {
      out.push(item);
    }
  }
  return true;
}

function checkInput(input, i) {
  const where = `inputs[${i}]`;
  if (!isObject(input)) return { message: `${where} must be an object` };
  if (typeof input.name !== "string" || input.name === "") return { message: `${where}.name must be a non-empty string` };
  const { shape, datatype, data } = input;
  if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    return { message: `${where}.shape must be an array of at most ${MAX_RANK} non-negative integers` };
  }
  if (datatype !== "BOOL" && datatype !== "BYTES" && !NUMERIC.has(datatype)) {
    return { message: `${where}.datatype must be BOOL, BYTES, UINT8..UINT64, INT8..INT64, FP16, FP32 or FP64` };
  }
  if (!Array.isArray(data)) return { message: `${where}.data must be an array` };
  const flat = [];
  if (!flatten(data, 1, flat)) return { message: `${where}.data is nested deeper than ${MAX_RANK}` };
  const expected = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== expected) return { message: `${where}.data has ${flat.length} elements; shape ${JSON.stringify(shape)} needs ${expected}` };
  const ok =
    datatype === "BOOL" ? flat.every((v) => typeof v === "boolean")
    : datatype === "BYTES" ? flat.every((v) => typeof v === "string")
    : flat.every((v) => typeof v === "number" && Number.isFinite(v));
  if (!ok) return { message: `${where}.data elements do not match datatype ${datatype}` };
  return { input: { name: input.name, shape, datatype, data: flat } };
}

/** POST /v2/models/{m}[/versions/{v}]/infer: validates and returns a plan or an error. */
export function planInfer(body, { entry, config }) {
  if (!isObject(body)) return invalid("request body must be a JSON object");
  if (!Array.isArray(body.inputs) || body.inputs.length === 0 || body.inputs.length > MAX_INPUTS) {
    return invalid(`inputs must be an array of 1 to ${MAX_INPUTS} tensors`);
  }
  const inputs = [];
  for (let i = 0; i < body.inputs.length; i++) {
    const checked = checkInput(body.inputs[i], i);
    if (checked.message) return invalid(checked.message);
    inputs.push(checked.input);
  }
  if (body.id !== undefined && typeof body.id !== "string") return invalid("id must be a string");
  let sum = 0;
  const outputs = inputs.map((input) => {
    if (input.datatype !== "BYTES") for (const v of input.data) sum += Number(v);
    return { name: `echo_${input.name}`, datatype: input.datatype, shape: input.shape, data: input.data };
  });
  outputs.push({ name: "sum", datatype: "FP64", shape: [1], data: [sum] });

  // The V2 request may name the outputs it wants.
  let wanted = outputs;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs) || !body.outputs.every((o) => isObject(o) && typeof o.name === "string")) {
      return invalid("outputs must be an array of objects with a name");
    }
    const names = body.outputs.map((o) => o.name);
    const unknown = names.find((n) => !outputs.some((o) => o.name === n));
    if (unknown !== undefined) return invalid(`unknown output "${unknown}"; this model has ${outputs.map((o) => o.name).join(", ")}`);
    wanted = outputs.filter((o) => names.includes(o.name));
  }

  return {
    stream: false,
    render({ requestId }) {
      return {
        json: {
          model_name: entry.name,
          model_version: entry.version,
          id: body.id ?? requestId,
          parameters: {},
          outputs: wanted,
          demo: { server: config.name, model: entry.name, version: entry.version },
        },
      };
    },
  };
}

/** GET /v2/models/{m}[/versions/{v}]: model metadata. */
export function modelMetadata(entry, versions) {
  return {
    name: entry.name,
    versions,
    platform: "demo",
    inputs: [{ name: "input", datatype: "FP32", shape: [-1, -1] }],
    outputs: [
      { name: "echo_input", datatype: "FP32", shape: [-1, -1] },
      { name: "sum", datatype: "FP64", shape: [1] },
    ],
  };
}

const LABELS = ["cat", "dog", "bird", "fish", "horse", "ship", "truck", "plane"];

/** POST /predictions/{m}[/{v}]: any body (images are bytes); the answer depends only on it. */
export function planPrediction(bytes, { entry, config }) {
  const next = prng(seedOf(`${entry.upstream}\n${sha256Hex(bytes)}`));
  const label = LABELS[Math.floor(next() * LABELS.length)];
  const score = Math.round((0.5 + next() / 2) * 1e4) / 1e4;
  return {
    stream: false,
    render() {
      return {
        json: {
          prediction: { label, score },
          model: entry.name,
          version: entry.version,
          input_bytes: bytes.length,
          demo: { server: config.name, model: entry.name, version: entry.version },
        },
      };
    },
  };
}
