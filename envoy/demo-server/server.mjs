#!/usr/bin/env node
// Demo model server: a dependency-free stand-in for vLLM, TGI, llama-server, KServe/MLServer/Triton
// and TorchServe behind Envoy. Run it as a CLI, or import startDemoServer() in tests.
// Usage: node envoy/demo-server/server.mjs --port 8001 --name demo-a --models llama:v1,llama:v2
import http from "node:http";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createApp } from "./app.mjs";
import { OPTIONS, fromCliValues, resolveConfig } from "./config.mjs";

/**
 * Starts a demo server. Options use camelCase names (see config.mjs); `port: 0` picks a free port.
 * Resolves to {port, url, config, close()}; rejects on an invalid option or a failed bind.
 */
export async function startDemoServer(options = {}) {
  const resolved = resolveConfig(options, "api");
  if (!resolved.ok) throw new Error(`demo-server: ${resolved.error}`);
  return listen(resolved.config);
}

async function listen(config) {
  const app = createApp(config);
  const server = http.createServer(app.listener);
  // Envoy keeps upstream connections for an hour by default; if we closed idle ones first, a
  // request racing our close would fail as "upstream connect error". 0 leaves closing to clients.
  server.keepAliveTimeout = 0;
  // Malformed HTTP (bad request line, oversized headers) never reaches the listener; answer it
  // with the same JSON shape and headers as everything else.
  server.on("clientError", (err, socket) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
    const reason = status === 431 ? "Request Header Fields Too Large" : "Bad Request";
    const body = JSON.stringify({ error: { message: `Malformed HTTP request (${err.code ?? "unknown"}).`, type: "invalid_request_error", param: null, code: "bad_request" } });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-demo-server: ${config.name}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  try {
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    app.close();
    throw err;
  }
  const { port } = server.address();
  const urlHost = config.host.includes(":") ? `[${config.host}]` : config.host;
  let closing;
  let holdLastChunk = null;
  return {
    port,
    url: `http://${urlHost}:${port}`,
    config,
    /** Tests: while a promise, every SSE stream waits for it before its last chunk ([DONE]). */
    get holdLastChunk() {
      return holdLastChunk;
    },
    set holdLastChunk(promise) {
      holdLastChunk = promise ?? null;
      app.setHoldLastChunk(holdLastChunk);
    },
    /** Streams that have waited for holdLastChunk before their last chunk (so far). */
    get lastChunksHeld() {
      return app.streams.lastChunksHeld;
    },
    /** Stops listening, cuts open connections and pending delays; safe to call twice. */
    close() {
      closing ??= new Promise((resolve) => {
        app.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function usage() {
  const lines = OPTIONS.map((o) => {
    const arg = o.kind === "bool" ? "" : ` <${o.kind === "models" ? "list" : o.kind === "rate" ? "0..1" : o.kind === "int" ? "n" : "text"}>`;
    return `  --${o.flag}${arg}`.padEnd(34) + `${o.help} (default ${JSON.stringify(o.cliDefault ?? o.default)})`;
  });
  return `Usage: node envoy/demo-server/server.mjs [options]\n\n${lines.join("\n")}\n  --help                          this text\n`;
}

/** CLI entry: parses flags, starts, prints one JSON line with the URL, stops on SIGINT/SIGTERM. */
export async function main(argv) {
  const spec = { help: { type: "boolean" } };
  for (const o of OPTIONS) spec[o.flag] = { type: o.kind === "bool" ? "boolean" : "string" };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false });
  } catch (err) {
    process.stderr.write(`demo-server: ${err.message}\n${usage()}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(usage());
    return 0;
  }
  const { help, ...values } = parsed.values;
  // The CLI's defaults differ where a fixed value is friendlier by hand (port 8001, not a random one).
  const cliDefaults = Object.fromEntries(OPTIONS.filter((o) => o.cliDefault !== undefined).map((o) => [o.flag, o.cliDefault]));
  const resolved = resolveConfig({ ...cliDefaults, ...fromCliValues(values) }, "cli");
  if (!resolved.ok) {
    process.stderr.write(`demo-server: ${resolved.error}\n`);
    return 2;
  }
  let server;
  try {
    server = await listen(resolved.config);
  } catch (err) {
    process.stderr.write(`demo-server: cannot listen on ${resolved.config.host}:${resolved.config.port}: ${err.message}\n`);
    return 1;
  }
  const { config } = server;
  process.stdout.write(
    JSON.stringify({
      event: "listening",
      name: config.name,
      url: server.url,
      port: server.port,
      models: config.models.map((m) => `${m.name}:${m.version}=${m.upstream}`),
      load_ms: config.loadMs,
    }) + "\n",
  );
  return new Promise((resolve) => {
    const stop = () => server.close().then(() => resolve(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

// Run main() only when executed directly, not when imported by tests.
function isEntryPoint() {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
