// Test-only filter (root id `model-router-health-writer`) that publishes warmup-health records the
// way warmup-health will: assembly/health/record.ts encoding, one shared-data key per version.
// Load it with the same vm_id as model-router, before it in the filter chain. Until
// warmup-health exists, this is how the integration tests mark a version not ready in Envoy.
//
//   PUT    /__health/<model>/<version>   headers x-health-state (unknown|loading|warming|ready|
//          failing), x-health-ramp-permyriad (0..10000, default 10000), x-health-since-ms,
//          x-health-reason; or x-health-raw-hex to store arbitrary bytes (malformed records)
//   DELETE /__health/<model>/<version>   stores "" (no record)
//   GET    /__health/<model>/<version>   the decoded record as JSON, 404 when absent
// Answers 200 with a JSON body, 400 on a bad request. Any other path passes through.
export * from "../../../assembly/abi/exports";
import {
  FilterHeadersStatus, HeaderPair, HttpContext, RootContext, getSharedData, registerRootContext,
  requestHeaders, sendLocalResponse, setSharedData, WasmResult,
} from "../../../assembly/index";
import { wasmResultName } from "../../../assembly/abi/types";
import {
  decodeHealthRecord, encodeHealthRecord, healthKey, HealthRecord, healthStateName, parseHealthState, RAMP_SCALE,
} from "../../../assembly/health/record";
import { JsonWriter } from "../../../assembly/json/index";

const PREFIX = "/__health/";

class WriterRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new WriterStream(id);
  }
}

class WriterStream extends HttpContext {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const path = requestHeaders.get(":path");
    if (path === null || !path.startsWith(PREFIX)) return FilterHeadersStatus.Continue;
    const rest = path.substring(PREFIX.length);
    const slash = rest.lastIndexOf("/");
    if (slash <= 0 || slash == rest.length - 1) return answer(400, "expected /__health/<model>/<version>");
    const key = healthKey(rest.substring(0, slash), rest.substring(slash + 1));
    const method = requestHeaders.get(":method");
    if (method == "GET") return read(key);
    if (method == "DELETE") return write(key, new ArrayBuffer(0));
    if (method != "PUT") return answer(400, "expected GET, PUT or DELETE");

    const raw = requestHeaders.get("x-health-raw-hex");
    if (raw !== null) {
      const bytes = fromHex(raw);
      return bytes === null ? answer(400, "x-health-raw-hex: expected hex") : write(key, bytes);
    }
    const stateName = requestHeaders.get("x-health-state");
    const state = stateName === null ? -1 : parseHealthState(stateName);
    if (state < 0) return answer(400, "x-health-state: expected unknown, loading, warming, ready or failing");
    const ramp = number(requestHeaders.get("x-health-ramp-permyriad"), <i64>RAMP_SCALE);
    const since = number(requestHeaders.get("x-health-since-ms"), 0);
    const reason = requestHeaders.get("x-health-reason");
    if (ramp < 0 || ramp > <i64>RAMP_SCALE || since < 0) return answer(400, "bad ramp or since");
    const record = new HealthRecord(state, <u64>since, <u32>ramp, reason === null ? "" : reason);
    return write(key, encodeHealthRecord(record));
  }
}

function write(key: string, value: ArrayBuffer): FilterHeadersStatus {
  const status = setSharedData(key, value);
  return answer(status == WasmResult.Ok ? 200 : 500, "set " + key + ": " + wasmResultName(status));
}

function read(key: string): FilterHeadersStatus {
  const shared = getSharedData(key);
  if (!shared.found || shared.value.byteLength == 0) return answer(404, "no record at " + key);
  const r = decodeHealthRecord(shared.value);
  if (r === null) return answer(200, "malformed record at " + key);
  const w = new JsonWriter().beginObject()
    .stringField("state", healthStateName(r.state))
    .stringField("since_ms", r.sinceMs.toString())
    .integerField("ramp_permyriad", r.rampPermyriad)
    .stringField("reason", r.reason)
    .endObject();
  sendLocalResponse(200, "health_writer", w.toArrayBuffer(), [new HeaderPair("content-type", "application/json")]);
  return FilterHeadersStatus.StopIteration;
}

function answer(status: u32, message: string): FilterHeadersStatus {
  const body = new JsonWriter().beginObject().stringField("message", message).endObject().toArrayBuffer();
  sendLocalResponse(status, "health_writer", body, [new HeaderPair("content-type", "application/json")]);
  return FilterHeadersStatus.StopIteration;
}

/** A decimal header, `def` when absent, -1 when not a number. */
function number(value: string | null, def: i64): i64 {
  if (value === null) return def;
  if (value.length == 0 || value.length > 18) return -1;
  let n: i64 = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function fromHex(text: string): ArrayBuffer | null {
  if (text.length % 2 != 0) return null;
  const out = new ArrayBuffer(text.length / 2);
  for (let i = 0; i < text.length; i += 2) {
    const hi = hexDigit(text.charCodeAt(i));
    const lo = hexDigit(text.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return null;
    store<u8>(changetype<usize>(out) + <usize>(i / 2), <u8>((hi << 4) | lo));
  }
  return out;
}

function hexDigit(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

registerRootContext("model-router-health-writer", (id: u32, rootId: string): RootContext => new WriterRoot(id, rootId));
