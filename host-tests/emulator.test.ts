// The emulator's own tests: loading, start-up, stream lifecycle, logs, traps and teardown, against
// build/noop.wasm and the scenario filters in host-tests/emulator/test-modules/scenarios.
import path from "node:path";
import { readFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { EmulatorTrapError, Host } from "./emulator";
import { testModule } from "./emulator/test-modules/build";

const NOOP = path.resolve(__dirname, "..", "build", "noop.wasm");
let scenarios = "";

beforeAll(async () => {
  scenarios = await testModule("scenarios");
}, 120_000);

/** A module with one imported function and the ABI version export, encoded by hand. */
function moduleImporting(importName: string | null): Uint8Array {
  const str = (s: string) => [s.length, ...Buffer.from(s)];
  const section = (id: number, body: number[]) => [id, body.length, ...body];
  const parts = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...section(1, [1, 0x60, 0, 0])];
  if (importName !== null) {
    parts.push(...section(2, [1, ...str("env"), ...str(importName), 0x00, 0]));
    parts.push(...section(7, [1, ...str("proxy_abi_version_0_2_1"), 0x00, 0]));
  }
  return new Uint8Array(parts);
}

function infoLines(host: Host): string[] {
  return host.logs({ source: "proxy_log" }).map((l) => l.message);
}

describe("emulator", () => {
  it("runs the quick start of its README as written", async () => {
    const readme = await readFile(path.resolve(__dirname, "emulator", "README.md"), "utf8");
    const code = /```ts\n([\s\S]*?)```/.exec(readme)![1].replace(/^import .*$/m, "");
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
    await new AsyncFunction("Host", "expect", code)(Host, expect);
  });

  describe("loading", () => {
    it("loads a module from a path, from bytes or from a compiled module", async () => {
      const host = new Host();
      const bytes = await readFile(NOOP);
      const vms = [await host.loadVm(NOOP), await host.loadVm(bytes), await host.loadVm(await WebAssembly.compile(bytes))];
      expect(vms.map((vm) => [vm.label, vm.abi])).toEqual([["vm1", "0.2.1"], ["vm2", "0.2.1"], ["vm3", "0.2.1"]]);
    });

    it("refuses a module importing a function Envoy does not register for ABI 0.2.1", async () => {
      await expect(new Host().loadVm(moduleImporting("proxy_clear_route_cache"))).rejects.toThrow(
        /missing import: env\.proxy_clear_route_cache/,
      );
    });

    it("refuses a module without a proxy_abi_version export", async () => {
      await expect(new Host().loadVm(moduleImporting(null))).rejects.toThrow(/Missing or unknown Proxy-Wasm ABI version/);
    });
  });

  describe("start-up", () => {
    it("runs _initialize, then context_create(root, 0), vm_start and configure for each plugin, each with its own root id", async () => {
      const host = new Host({ traceGuestCalls: true });
      const vm = await host.loadVm(scenarios, { vmConfig: "vmcfg" });
      const a = vm.startPlugin({ rootId: "lifecycle", configuration: "a" });
      const b = vm.startPlugin({ rootId: "lifecycle-b", configuration: "bb" });
      expect([a.configured, b.configured, a.rootContextId, b.rootContextId]).toEqual([true, true, 1, 2]);
      expect(host.guestCalls!.map((c) => c.call)).toEqual([
        "_initialize()",
        "proxy_on_context_create(1, 0)",
        "proxy_on_vm_start(1, 5)",
        "proxy_on_configure(1, 1)",
        "proxy_on_context_create(2, 0)",
        "proxy_on_vm_start(2, 5)",
        "proxy_on_configure(2, 2)",
      ]);
      // Our layer picked each root class by the plugin_root_id property it read in context_create.
      expect(infoLines(host)).toEqual([
        "vm_start lifecycle vmcfg",
        "configure lifecycle 'a' root=1",
        "vm_start lifecycle-b vmcfg",
        "configure lifecycle-b 'bb' root=2",
      ]);
    });

    it("reports a configuration the module refuses", async () => {
      const host = new Host();
      const plugin = (await host.loadVm(scenarios)).startPlugin({ rootId: "lifecycle", configuration: "fail" });
      expect([plugin.started, plugin.configured]).toEqual([true, false]);
      expect(host.logs({ level: "critical" }).map((l) => l.message)).toEqual(["lifecycle: configuration: refused on purpose"]);
      await expect(plugin.request()).rejects.toThrow(/not running/);
    });

    it("traps a host call other than logging, WASI, clock or random while the module starts, as V8 does in Envoy", async () => {
      const host = new Host();
      await expect(host.loadVm(scenarios, { env: { EMU_RESTRICTED: "1" } })).rejects.toThrow(
        /restricted_callback: env\.proxy_define_metric/,
      );
      expect(host.restrictedCalls).toEqual([{ vm: "vm1", importName: "env.proxy_define_metric" }]);
    });

    it("configures a plugin in a throw-away canary VM first, once per plugin", async () => {
      const host = new Host();
      const vm1 = await host.loadVm(scenarios, { vmId: "gw" });
      const vm2 = await host.loadVm(scenarios, { vmId: "gw" });
      const options = { rootId: "lifecycle", configuration: "shared", canary: true };
      const first = vm1.startPlugin(options);
      const second = vm2.startPlugin(options);
      expect([first.canaryConfigured, first.configured, second.configured]).toEqual([true, true, true]);
      // Canary, worker 1, worker 2: the canary's shared-data write stays.
      expect(infoLines(host).filter((l) => l.startsWith("configure"))).toHaveLength(3);
      expect(host.sharedData.get("lifecycle/configured", "gw")).toMatchObject({ value: "lifecycle", cas: 3 });
      expect(vm1.liveContexts).toBe(1);
    });

    it("does not start a plugin whose canary refuses the configuration", async () => {
      const host = new Host();
      const vm = await host.loadVm(scenarios);
      const plugin = vm.startPlugin({ rootId: "lifecycle", configuration: "fail", canary: true });
      expect([plugin.canaryConfigured, plugin.configured, plugin.state]).toEqual([false, false, "not started"]);
      expect(vm.liveContexts).toBe(0);
    });
  });

  describe("streams", () => {
    it("runs a request through noop.wasm in Envoy's callback order and counts it", async () => {
      const host = new Host();
      const vm = await host.loadVm(NOOP, { vmId: "ai-gateway" });
      const plugin = vm.startPlugin({ rootId: "noop", configuration: "{}" });
      const res = await plugin.request({ method: "POST", path: "/v1/chat", body: '{"model":"m"}', headers: { "content-type": "application/json" } });
      expect(res.status).toBe(200);
      expect(res.response!.body).toBe('{"model":"m"}');
      expect(res.upstreamRequest).toMatchObject({ method: "POST", path: "/v1/chat", body: '{"model":"m"}' });
      expect(res.actions.map((a) => a.callback)).toEqual([
        "onContextCreate", "onRequestHeaders", "onRequestBody", "onResponseHeaders", "onResponseBody", "onLog", "onDone", "onDelete",
      ]);
      expect(host.metric("noop.requests_total")).toBe(1);
      expect(host.hostCallFailures).toEqual([]);
      expect(vm.liveContexts).toBe(1);
    });

    it("refuses noop's configuration when it is not an empty object", async () => {
      const host = new Host();
      const plugin = (await host.loadVm(NOOP)).startPlugin({ rootId: "noop", configuration: { a: 1 } });
      expect(plugin.configured).toBe(false);
      expect(host.logs({ minLevel: "critical" })).toHaveLength(1);
    });

    it("runs a chain: decoders in order, encoders in reverse, then every log, then done and delete per filter", async () => {
      const host = new Host();
      const vm = await host.loadVm(scenarios);
      const a = vm.startPlugin({ rootId: "lifecycle" });
      const b = vm.startPlugin({ rootId: "lifecycle-b" });
      const res = await host.chain(a, b).request({ path: "/chain" });
      expect(res.upstreamRequest!.headers["x-seen-by"]).toBe("lifecycle,lifecycle-b");
      expect(res.response!.headers["x-seen-by"]).toBe("lifecycle-b,lifecycle");
      expect(res.actions.filter((x) => x.callback !== "onContextCreate").map((x) => `${x.filter}.${x.callback}`)).toEqual([
        "lifecycle.onRequestHeaders",
        "lifecycle-b.onRequestHeaders",
        "lifecycle-b.onResponseHeaders",
        "lifecycle.onResponseHeaders",
        "lifecycle.onLog",
        "lifecycle-b.onLog",
        "lifecycle.onDone",
        "lifecycle.onDelete",
        "lifecycle-b.onDone",
        "lifecycle-b.onDelete",
      ]);
      // In onLog the request headers are readable again (Envoy's access-log phase), with every write.
      expect(infoLines(host).filter((l) => l.startsWith("log "))).toEqual([
        "log lifecycle path=/chain seen=lifecycle",
        "log lifecycle-b path=/chain seen=lifecycle",
      ]);
    });

    it("drives a stream step by step and reports what Envoy made of each callback's result", async () => {
      const host = new Host();
      const plugin = (await host.loadVm(scenarios)).startPlugin({ rootId: "hold", allowOnHeadersStopIteration: true });
      const stream = plugin.newStream();
      expect(stream.requestHeaders({ ":method": "POST", ":path": "/s" })).toBe("StopIteration");
      expect(stream.requestBody("ab")).toBe("StopIterationAndBuffer");
      expect(stream.upstreamRequest).toBeUndefined();
      expect(stream.requestBody("cd", { endOfStream: true })).toBe("Continue");
      expect(stream.upstreamRequest).toMatchObject({ body: "abcd", headers: { "x-body-sizes": "2,4", "x-body": "abcd" } });
      expect(stream.responseHeaders({ ":status": "201" }, { endOfStream: true })).toBe("Continue");
      expect(stream.finished).toBe(true);
      expect(stream.response).toMatchObject({ status: 201, complete: true });
      expect(stream.actions.slice(-3).map((a) => a.callback)).toEqual(["onLog", "onDone", "onDelete"]);
    });

    it("ends an open stream like a client disconnect on finish()", async () => {
      const host = new Host();
      const vm = await host.loadVm(scenarios);
      const plugin = vm.startPlugin({ rootId: "lifecycle" });
      const stream = plugin.newStream();
      expect(stream.requestHeaders({})).toBe("Continue");
      const result = stream.finish();
      expect(result.reset).toBe("downstream_remote_disconnect");
      expect(result.response).toBeUndefined();
      expect(stream.actions.slice(-3).map((a) => a.callback)).toEqual(["onLog", "onDone", "onDelete"]);
      expect(vm.liveContexts).toBe(1);
    });
  });

  describe("logs", () => {
    it("keeps lines at or above the host's level and tells the module the level", async () => {
      const host = new Host({ logLevel: "info" });
      const plugin = (await host.loadVm(scenarios)).startPlugin({ rootId: "lifecycle" });
      await plugin.request();
      expect(host.logs({ level: "debug" })).toEqual([]);
      host.logLevel = "debug";
      // Our layer reads proxy_get_log_level at ticks (and every 64th stream).
      plugin.tick();
      await plugin.request();
      expect(host.logs({ level: "debug" }).map((l) => l.message)).toEqual(["debug line 3"]);
      expect(host.logs({ contains: /^done lifecycle/ }).map((l) => [l.rootId, l.contextId])).toEqual([["lifecycle", 2], ["lifecycle", 3]]);
    });
  });

  describe("traps", () => {
    it("throws an error with the wasm stack and the last log lines, and marks the VM failed", async () => {
      const host = new Host();
      const vm = await host.loadVm(scenarios);
      const plugin = vm.startPlugin({ rootId: "trap" });
      const error = await plugin.request({ headers: { "x-trap": "5" } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmulatorTrapError);
      const message = (error as Error).message;
      expect(message).toMatch(/vm1 trapped in proxy_on_request_headers\(2, \d+, 1\): unreachable/);
      expect(message).toMatch(/wasm stack:\n.*wasm/);
      expect(message).toContain("[critical] vm1 trap: ai-gateway-wasm: abort: Index out of range");
      expect(vm.failed).toBe(true);
      expect(host.traps).toHaveLength(1);
    });

    it("applies Envoy's fail-closed policy when asked: 503 wasm_fail_stream now and for later streams", async () => {
      const host = new Host({ trapPolicy: "envoy" });
      const plugin = (await host.loadVm(scenarios)).startPlugin({ rootId: "trap" });
      const first = await plugin.request({ headers: { "x-trap": "5" } });
      expect(first.localResponse).toMatchObject({ status: 503, details: "wasm_fail_stream", sentBy: "envoy", body: "" });
      const second = await plugin.request();
      expect(second.status).toBe(503);
      expect(second.actions).toEqual([]);
    });

    it("lets streams through a failed VM for a fail-open plugin", async () => {
      const host = new Host({ trapPolicy: "envoy" });
      const plugin = (await host.loadVm(scenarios)).startPlugin({ rootId: "trap", failOpen: true });
      expect((await plugin.request({ headers: { "x-trap": "5" } })).status).toBe(200);
      const later = await plugin.request({ path: "/after" });
      expect([later.status, later.upstreamRequest!.headers["x-passed"]]).toEqual([200, undefined]);
    });
  });

  describe("teardown", () => {
    it("calls on_done then on_delete for a root context", async () => {
      const host = new Host();
      const vm = await host.loadVm(scenarios);
      const plugin = vm.startPlugin({ rootId: "lifecycle" });
      expect(plugin.teardown()).toBe(true);
      expect(infoLines(host).slice(-2)).toEqual(["root_done lifecycle", "root_delete lifecycle"]);
      expect([plugin.state, vm.liveContexts]).toEqual(["deleted", 0]);
    });

    it("deletes a root that answered false from on_done once it calls proxy_done", async () => {
      const host = new Host();
      const plugin = (await host.loadVm(scenarios)).startPlugin({ rootId: "lingering" });
      expect(plugin.teardown()).toBe(false);
      expect(plugin.state).toBe("pendingDone");
      host.advance(1000);
      expect(plugin.state).toBe("deleted");
      expect(infoLines(host)).toEqual(["lingering on_done", "lingering done() Ok", "lingering deleted"]);
    });

    it("drops a vm_id's shared data when the last VM with that vm_id closes", async () => {
      const host = new Host();
      const vm1 = await host.loadVm(scenarios, { vmId: "gw" });
      const vm2 = await host.loadVm(scenarios, { vmId: "gw" });
      host.sharedData.set("k", "v", { vmId: "gw" });
      vm1.close();
      expect(host.sharedData.get("k", "gw")?.value).toBe("v");
      vm2.close();
      expect(host.sharedData.get("k", "gw")).toBeUndefined();
    });
  });
});
