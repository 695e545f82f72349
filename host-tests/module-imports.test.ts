// Envoy refuses a module that imports anything it does not provide ("Failed to load Wasm module
// due to a missing import"), so every built module is checked against what Envoy registers for
// ABI 0.2.1 plus its WASI subset.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";

const BUILD = path.resolve(__dirname, "..", "build");

const ENV_ALLOWED = new Set([
  "proxy_log", "proxy_get_log_level", "proxy_get_current_time_nanoseconds",
  "proxy_set_tick_period_milliseconds", "proxy_set_effective_context", "proxy_done",
  "proxy_get_buffer_bytes", "proxy_set_buffer_bytes", "proxy_get_buffer_status",
  "proxy_get_header_map_pairs", "proxy_set_header_map_pairs", "proxy_get_header_map_size",
  "proxy_get_header_map_value", "proxy_add_header_map_value", "proxy_replace_header_map_value",
  "proxy_remove_header_map_value", "proxy_get_property", "proxy_set_property",
  "proxy_get_shared_data", "proxy_set_shared_data", "proxy_register_shared_queue",
  "proxy_resolve_shared_queue", "proxy_dequeue_shared_queue", "proxy_enqueue_shared_queue",
  "proxy_continue_stream", "proxy_close_stream", "proxy_send_local_response", "proxy_http_call",
  "proxy_define_metric", "proxy_increment_metric", "proxy_record_metric", "proxy_get_metric",
  "proxy_call_foreign_function",
]);
// The WASI subset DESIGN.md names.
const WASI_ALLOWED = new Set([
  "fd_write", "clock_time_get", "random_get", "environ_get", "environ_sizes_get", "proc_exit",
]);

const REQUIRED_EXPORTS = [
  "proxy_abi_version_0_2_1", "malloc", "memory", "_initialize", "proxy_on_context_create",
  "proxy_on_vm_start", "proxy_on_configure", "proxy_on_tick", "proxy_on_queue_ready",
  "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
  "proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
  "proxy_on_log", "proxy_on_done", "proxy_on_delete", "proxy_on_http_call_response",
  "proxy_on_foreign_function",
];

async function builtModules(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of [BUILD, path.join(BUILD, "fixtures")]) {
    for (const f of await readdir(dir)) if (f.endsWith(".wasm")) out.push(path.join(dir, f));
  }
  return out;
}

function disallowedImports(mod: WebAssembly.Module): string[] {
  return WebAssembly.Module.imports(mod)
    .filter((imp) => {
      if (imp.module === "env") return !ENV_ALLOWED.has(imp.name);
      if (imp.module === "wasi_snapshot_preview1") return !WASI_ALLOWED.has(imp.name);
      return true;
    })
    .map((imp) => `${imp.module}.${imp.name}`);
}

describe("built modules", () => {
  it("include every plugin and the combined module", async () => {
    const names = (await builtModules()).map((f) => path.basename(f));
    expect(names).toContain("noop.wasm");
    expect(names).toContain("ai-gateway.wasm");
  });

  it("import only what Envoy provides", async () => {
    for (const file of await builtModules()) {
      const mod = new WebAssembly.Module(await readFile(file));
      expect({ file: path.basename(file), bad: disallowedImports(mod) }).toEqual({ file: path.basename(file), bad: [] });
    }
  });

  it("export the ABI 0.2.1 entry points Envoy looks for", async () => {
    for (const file of await builtModules()) {
      const mod = new WebAssembly.Module(await readFile(file));
      const exports = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
      const missing = REQUIRED_EXPORTS.filter((name) => !exports.has(name));
      expect({ file: path.basename(file), missing }).toEqual({ file: path.basename(file), missing: [] });
    }
  });
});
