// Options of the demo server: parse, validate, derive. One table drives the CLI flags, the
// startDemoServer() option names, the defaults and the checks, so they cannot drift apart.
// Errors are returned as values naming the option, the value and what was expected.

const MiB = 1024 * 1024;

/** Option table: API key, CLI flag, default (cliDefault where the CLI differs), kind and bounds. */
export const OPTIONS = [
  { key: "port", flag: "port", default: 0, cliDefault: 8001, kind: "int", min: 0, max: 65535, help: "port to listen on; 0 picks a free one" },
  { key: "host", flag: "host", default: "127.0.0.1", kind: "host", help: "address to bind" },
  { key: "name", flag: "name", default: "demo", kind: "token", help: "server name echoed in x-demo-server" },
  { key: "models", flag: "models", default: "demo:v1", kind: "models", help: "name:version[=upstream],... served models" },
  { key: "loadMs", flag: "load-ms", default: 0, kind: "int", min: 0, max: 3_600_000, help: "time until models are loaded; 503 before" },
  { key: "warmupRequests", flag: "warmup-requests", default: 0, kind: "int", min: 0, max: 1_000_000, help: "first N inference requests per version are slow" },
  { key: "warmupMs", flag: "warmup-ms", default: 0, kind: "int", min: 0, max: 600_000, help: "extra delay of a warmup request" },
  { key: "latencyMs", flag: "latency-ms", default: 0, kind: "int", min: 0, max: 600_000, help: "delay before every inference response" },
  { key: "errorRate", flag: "error-rate", default: 0, kind: "rate", help: "fraction of inference requests answered 500" },
  { key: "dropRate", flag: "drop-rate", default: 0, kind: "rate", help: "fraction of inference requests whose connection is destroyed" },
  { key: "tokensPerChunk", flag: "tokens-per-chunk", default: 1, kind: "int", min: 1, max: 1024, help: "generated tokens per SSE chunk" },
  { key: "chunkMs", flag: "chunk-ms", default: 0, kind: "int", min: 0, max: 60_000, help: "delay between SSE chunks" },
  { key: "seed", flag: "seed", default: 1, kind: "int", min: 0, max: 4294967295, help: "seed of the fault draws" },
  { key: "maxBodyBytes", flag: "max-body-bytes", default: 8 * MiB, kind: "int", min: 1, max: 1024 * MiB, help: "largest accepted request body; 413 above" },
  { key: "notReadyStatus", flag: "not-ready-status", default: 503, kind: "int", min: 400, max: 599, help: "status of KServe V2 readiness endpoints when not ready (MLServer uses 400)" },
  { key: "embeddingDims", flag: "embedding-dims", default: 16, kind: "int", min: 1, max: 4096, help: "embedding length when the request has no dimensions" },
  { key: "logRequests", flag: "log-requests", default: false, kind: "bool", help: "print one JSON line per request" },
];

// Names and versions appear in URL path segments (/v2/models/{m}/versions/{v}), so they stay
// within characters that need no escaping there; `@` is excluded because `name@version` selects.
const TOKEN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
// Upstream names are what real servers report (e.g. "meta-llama/Llama-3.1-8B"): any visible ASCII.
const UPSTREAM = /^[\x21-\x7e]{1,256}$/;
const HOST = /^[A-Za-z0-9.:_-]{1,255}$/;

/** Parses "name:version[=upstream]" entries; returns {ok, value} or {ok:false, error}. */
function parseModels(value, label) {
  const expected = `expected a non-empty list of "name:version" or "name:version=upstream" (name and version: letters, digits, "._-")`;
  let specs;
  if (typeof value === "string") {
    specs = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  } else if (Array.isArray(value)) {
    specs = value;
  } else {
    return { ok: false, error: `${label}: ${JSON.stringify(value)}: ${expected}` };
  }
  if (specs.length === 0) return { ok: false, error: `${label}: ${JSON.stringify(value)}: ${expected}` };
  const models = [];
  for (const spec of specs) {
    let name;
    let version;
    let upstream;
    if (typeof spec === "string") {
      const eq = spec.indexOf("=");
      const head = eq < 0 ? spec : spec.slice(0, eq);
      upstream = eq < 0 ? undefined : spec.slice(eq + 1);
      const colon = head.indexOf(":");
      if (colon < 0) return { ok: false, error: `${label}: ${JSON.stringify(spec)}: ${expected}` };
      name = head.slice(0, colon);
      version = head.slice(colon + 1);
    } else if (spec && typeof spec === "object") {
      ({ name, version, upstream } = spec);
    }
    if (typeof name !== "string" || !TOKEN.test(name) || typeof version !== "string" || !TOKEN.test(version)) {
      return { ok: false, error: `${label}: ${JSON.stringify(spec)}: ${expected}` };
    }
    upstream = upstream === undefined ? `${name}-${version}` : upstream;
    if (typeof upstream !== "string" || !UPSTREAM.test(upstream)) {
      return { ok: false, error: `${label}: ${JSON.stringify(spec)}: expected the upstream name to be 1-256 visible ASCII characters` };
    }
    models.push({ name, version, upstream });
  }
  const seen = new Set();
  for (const m of models) {
    if (seen.has(`${m.name}:${m.version}`)) return { ok: false, error: `${label}: "${m.name}:${m.version}": expected each name:version once` };
    seen.add(`${m.name}:${m.version}`);
  }
  // A request's `model` is looked up as an upstream name first, then as a model name; both
  // lookups must give one answer.
  const upstreams = new Set();
  for (const m of models) {
    if (upstreams.has(m.upstream)) return { ok: false, error: `${label}: upstream "${m.upstream}": expected upstream names to be unique` };
    upstreams.add(m.upstream);
    if (models.some((o) => o.name === m.upstream && o.name !== m.name)) {
      return { ok: false, error: `${label}: upstream "${m.upstream}": expected it not to equal another model's name` };
    }
  }
  return { ok: true, value: models };
}

function check(option, value, label) {
  const bad = (expected) => ({ ok: false, error: `${label}: ${JSON.stringify(value)}: expected ${expected}` });
  switch (option.kind) {
    case "int":
      if (!Number.isInteger(value) || value < option.min || value > option.max) {
        return bad(`an integer from ${option.min} to ${option.max}`);
      }
      return { ok: true, value };
    case "rate":
      if (typeof value !== "number" || !(value >= 0 && value <= 1)) return bad("a number from 0 to 1");
      return { ok: true, value };
    case "bool":
      if (typeof value !== "boolean") return bad("true or false");
      return { ok: true, value };
    case "host":
      if (typeof value !== "string" || !HOST.test(value)) return bad("an IP address or host name");
      return { ok: true, value };
    case "token":
      if (typeof value !== "string" || !TOKEN.test(value)) return bad('1-128 letters, digits or "._-"');
      return { ok: true, value };
    case "models":
      return parseModels(value, label);
  }
  return bad("a known option kind");
}

/**
 * Validates options (API names, or CLI flag names when `naming` is "cli") and fills defaults.
 * Returns {ok: true, config} or {ok: false, error}. Unknown options are errors.
 */
export function resolveConfig(options = {}, naming = "api") {
  const byName = new Map(OPTIONS.map((o) => [naming === "cli" ? o.flag : o.key, o]));
  for (const name of Object.keys(options)) {
    if (!byName.has(name)) {
      const label = naming === "cli" ? `--${name}` : name;
      return { ok: false, error: `${label}: unknown option; expected one of ${[...byName.keys()].join(", ")}` };
    }
  }
  const config = {};
  for (const [name, option] of byName) {
    const raw = options[name];
    if (raw === undefined) {
      const parsed = option.kind === "models" ? parseModels(option.default, name) : { ok: true, value: option.default };
      config[option.key] = parsed.value;
      continue;
    }
    const label = naming === "cli" ? `--${name}` : name;
    const result = check(option, raw, label);
    if (!result.ok) return result;
    config[option.key] = result.value;
  }
  return { ok: true, config };
}

/** Converts CLI strings to the option kinds; leaves bad numbers as strings so checks report them. */
export function fromCliValues(values) {
  const options = {};
  for (const option of OPTIONS) {
    const raw = values[option.flag];
    if (raw === undefined) continue;
    if (option.kind === "int" || option.kind === "rate") {
      const n = raw.trim() === "" ? NaN : Number(raw);
      options[option.flag] = Number.isNaN(n) ? raw : n;
    } else {
      options[option.flag] = raw;
    }
  }
  return options;
}
