// The inference cache's shared tier: Redis behind Webdis (Debian's redis-server 7.0 and webdis
// 0.1.9), started by the harness from the examples in envoy/shared-store/. Pins down the HTTP
// protocol the filter will speak (envoy/shared-store/README.md): SETEX with the value as a PUT
// body, GET back byte for byte with `.raw`, what a miss, a refused command, a too-large body, a
// stopped and a hung Redis look like; then the same through a real Envoy and the README's cluster.
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import {
  ROOT,
  SHARED_STORE_EXAMPLES,
  addLogSource,
  closeHttp1Connections,
  http1Request,
  printEnvoyLogsOnFailure,
  startEnvoy,
  startSharedStore,
  type Envoy,
  type HttpResponse,
  type SharedStore,
} from "../../harness";

const TEMPLATE = readFileSync(path.join(__dirname, "envoy.template.yaml"), "utf8");
const README = readFileSync(path.join(ROOT, "envoy/shared-store/README.md"), "utf8");
const REDIS_EXAMPLE = readFileSync(path.join(ROOT, SHARED_STORE_EXAMPLES.redis), "utf8");
const WEBDIS_EXAMPLE = JSON.parse(readFileSync(path.join(ROOT, SHARED_STORE_EXAMPLES.webdis), "utf8")) as Record<string, unknown>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 10 ms until it holds; fails naming `what` after `timeoutMs`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(10);
  }
}

interface TcpSocket {
  localPort: number;
  remotePort: number;
  /** /proc/net/tcp's st: 1 ESTABLISHED, 8 CLOSE_WAIT, ... */
  state: number;
  /** Bytes received and not yet read by the socket's owner. */
  rxQueue: number;
}

/** This network namespace's IPv4 TCP sockets (Redis and Webdis listen on 127.0.0.1). */
function tcpSockets(): TcpSocket[] {
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const f = line.trim().split(/\s+/);
      const port = (addr: string) => parseInt(addr.split(":")[1], 16);
      return { localPort: port(f[1]), remotePort: port(f[2]), state: parseInt(f[3], 16), rxQueue: parseInt(f[4].split(":")[1], 16) };
    });
}

/** Bytes Webdis has sent to Redis that (a frozen) Redis has not read: the commands it forwarded. */
function unreadByRedis(): number {
  return tcpSockets()
    .filter((s) => s.localPort === store.redisPort && s.state === 1)
    .reduce((sum, s) => sum + s.rxQueue, 0);
}

/** Whether Webdis still holds its end of the connection from client port `port` open. */
function webdisHolds(port: number): boolean {
  return tcpSockets().some((s) => s.localPort === store.webdisPort && s.remotePort === port && (s.state === 1 || s.state === 8));
}

printEnvoyLogsOnFailure();

let store: SharedStore;

beforeAllOrFailEach(async () => {
  store = await startSharedStore();
  addLogSource("shared store", store.logs);
});

afterAll(async () => {
  closeHttp1Connections();
  await store?.close();
});

const put = (p: string, body: Uint8Array): Promise<HttpResponse> => http1Request(store.webdisUrl, { method: "PUT", path: p, body });
const get = (p: string): Promise<HttpResponse> => http1Request(store.webdisUrl, { method: "GET", path: p });

/** A `.raw` answer to GET: `$<n>\r\n<n bytes>\r\n`, or `$-1\r\n` for a missing key (null). */
function rawBulk(body: Buffer): Buffer | null {
  const eol = body.indexOf("\r\n");
  const m = /^\$(-1|\d+)$/.exec(body.toString("latin1", 0, eol));
  if (eol < 0 || m === null) throw new Error(`not a RESP bulk string: ${JSON.stringify(body.toString("latin1", 0, 60))}`);
  if (m[1] === "-1") {
    expect(body.length).toBe(5);
    return null;
  }
  const n = Number(m[1]);
  expect(body.length, "one bulk string, nothing after it").toBe(eol + 2 + n + 2);
  expect(body.toString("latin1", eol + 2 + n)).toBe("\r\n");
  return body.subarray(eol + 2, eol + 2 + n);
}

/** Writes `parts` on a new connection and returns everything received until the server closes it (or 2 s pass). */
function rawExchange(port: number, parts: (string | Buffer)[]): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const socket = net.connect(port, "127.0.0.1", () => parts.forEach((p) => socket.write(p)));
    const timer = setTimeout(() => socket.destroy(), 2_000);
    socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
    socket.on("error", () => {}); // a reset after the answer: the answer is what counts
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(got.replace(/Server: Webdis\r\n(?:Allow|Access-Control-[A-Za-z-]+): [^\r]*\r\n(?:(?:Allow|Access-Control-[A-Za-z-]+): [^\r]*\r\n)*/g, ""));
    });
  });
}

/** A deterministic byte source, so that a failure reproduces. */
function prng(seed: number): (n: number) => Buffer {
  let x = seed >>> 0 || 1;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  };
}

/** 256 values: the awkward ones first (NUL, 0xff, invalid UTF-8, RESP look-alikes, 100 KB), then random sizes. */
function binaryValues(): Buffer[] {
  const bytes = prng(9);
  const special = [
    Buffer.from([0x00]),
    Buffer.from([0xff]),
    Buffer.from([0x00, 0x00, 0x00, 0x00]),
    Buffer.from([0xc3, 0x28]), // invalid 2-byte sequence
    Buffer.from([0x80, 0xbf]), // lone continuation bytes
    Buffer.from([0xed, 0xa0, 0x80]), // UTF-16 surrogate in UTF-8
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
    Buffer.from([0xfe, 0xff, 0x00, 0x41]),
    Buffer.from("\r\n"),
    Buffer.from("$-1\r\n"),
    Buffer.from("-ERR not an error\r\n"),
    Buffer.from("+OK\r\n"),
    Buffer.from("/GET/x.raw?type=a/b&c=%2f+"),
    Buffer.from('{"GET":null}'),
    Buffer.concat([Buffer.from([0]), bytes(100 * 1024 - 2), Buffer.from([0xff])]), // 100 KB
    bytes(64 * 1024),
  ];
  const sizes = prng(77);
  const rest = Array.from({ length: 256 - special.length }, () => {
    const r = sizes(2).readUInt16LE(0);
    return bytes(1 + (r % 8 === 0 ? r : r % 2048));
  });
  return [...special, ...rest];
}

describe("shared store", () => {
  describe("start", () => {
    it("runs Redis with the example redis.conf, only the port, folder, logs and an admin user added", async () => {
      const [example, overrides] = store.redisConfig.split("# --- envoy/harness/shared-store.ts");
      expect(example.trimEnd()).toBe(REDIS_EXAMPLE.trimEnd());
      const overridden = overrides.split("\n").slice(1).filter((l) => l !== "").map((l) => l.split(" ")[0]);
      expect(overridden).toEqual(["port", "dir", "logfile", "daemonize", "user"]);
      const config = async (name: string) => ((await store.redis("CONFIG", "GET", name)) as Buffer[])[1].toString();
      expect(await config("port")).toBe(String(store.redisPort));
      expect(await config("bind")).toBe("127.0.0.1");
      expect(await config("protected-mode")).toBe("yes");
      expect(await config("save")).toBe("");
      expect(await config("appendonly")).toBe("no");
      expect(await config("maxmemory")).toBe(String(64 * 1024 * 1024));
      expect(await config("maxmemory-policy")).toBe("allkeys-lru");
      const user = (await store.redis("ACL", "GETUSER", "default")) as (Buffer | Buffer[])[];
      const commands = user[user.findIndex((v) => String(v) === "commands") + 1].toString();
      expect(commands.split(" ").sort()).toEqual(["+get", "+setex", "-@all"]);
    });

    it("runs Webdis with the example webdis.json, only ports and the log file changed", () => {
      const changed = Object.keys(store.webdisConfig).filter((k) => JSON.stringify(store.webdisConfig[k]) !== JSON.stringify(WEBDIS_EXAMPLE[k]));
      expect(changed.sort()).toEqual(["http_port", "logfile", "redis_port"]);
      expect(store.webdisConfig).toMatchObject({ http_host: "127.0.0.1", redis_host: "127.0.0.1", redis_port: store.redisPort, http_port: store.webdisPort });
      // Webdis 0.1.9 applies an entry's `enabled` before its `disabled`: the two must be separate entries.
      expect(WEBDIS_EXAMPLE.acl).toEqual([{ disabled: ["*"] }, { enabled: ["GET", "SETEX"] }]);
    });
  });

  describe("SETEX and GET", () => {
    it("round-trips 256 binary values byte for byte (PUT /SETEX/<key>/<ttl>.raw, GET /GET/<key>.raw)", async () => {
      const values = binaryValues();
      expect(values).toHaveLength(256);
      for (const [i, value] of values.entries()) {
        const key = `aigw:test:roundtrip:${i}`;
        const set = await put(`/SETEX/${key}/300.raw`, value);
        expect([set.status, set.text], key).toEqual([200, "+OK\r\n"]);
        const got = await get(`/GET/${key}.raw`);
        expect(got.status).toBe(200);
        expect(got.headers["content-type"]).toBe("binary/octet-stream");
        expect(rawBulk(got.body)?.equals(value), `${key} (${value.length} bytes) via .raw`).toBe(true);
        // What Redis itself holds, through the harness's own client.
        expect((await store.redis("GET", key) as Buffer).equals(value), `${key} in Redis`).toBe(true);
      }
    });

    it("answers GET with .bin and ?type= with the bare bytes; JSON is not binary-safe", async () => {
      const value = Buffer.from([0x41, 0x00, 0x42, 0xff, 0xc3, 0x28]);
      await put("/SETEX/aigw:test:formats/300.raw", value);
      const bin = await get("/GET/aigw:test:formats.bin");
      expect([bin.status, bin.headers["content-type"]]).toEqual([200, "binary/octet-stream"]);
      expect(bin.body.equals(value)).toBe(true);
      const typed = await get("/GET/aigw:test:formats?type=application/octet-stream");
      expect([typed.status, typed.headers["content-type"]]).toEqual([200, "application/octet-stream"]);
      expect(typed.body.equals(value)).toBe(true);
      // The default JSON output stops the string at the first NUL.
      expect((await get("/GET/aigw:test:formats")).text).toBe('{"GET":"A"}');
    });

    it.each([
      { format: ".raw", status: 200, body: "$-1\r\n" },
      { format: ".bin", status: 404, body: "" },
      { format: "", status: 200, body: '{"GET":null}' },
    ])("answers a missing key with $status and '$body' ($format)", async ({ format, status, body }) => {
      const res = await get(`/GET/aigw:test:missing${format}`);
      expect([res.status, res.text]).toEqual([status, body]);
    });

    it("expires an entry after its TTL", async () => {
      await put("/SETEX/aigw:test:ttl-long/60.raw", Buffer.from("x"));
      expect(await store.redis("TTL", "aigw:test:ttl-long")).toBeGreaterThanOrEqual(59);
      const set = Date.now();
      await put("/SETEX/aigw:test:ttl/1.raw", Buffer.from("short-lived"));
      expect(rawBulk((await get("/GET/aigw:test:ttl.raw")).body)?.toString()).toBe("short-lived");
      for (;;) {
        if (rawBulk((await get("/GET/aigw:test:ttl.raw")).body) === null) break;
        expect(Date.now() - set, "expired within 3 s").toBeLessThan(3_000);
        await sleep(50);
      }
      expect(Date.now() - set).toBeGreaterThanOrEqual(900);
    });

    it.each([
      { what: "an empty value (no body, no argument)", path: "/SETEX/aigw:test:empty/60.raw", body: "", reply: "-ERR wrong number of arguments for 'setex' command\r\n" },
      { what: "a TTL of 0", path: "/SETEX/aigw:test:ttl0/0.raw", body: "v", reply: "-ERR invalid expire time in 'setex' command\r\n" },
      { what: "a TTL that is not a number", path: "/SETEX/aigw:test:ttlx/soon.raw", body: "v", reply: "-ERR value is not an integer or out of range\r\n" },
    ])("answers 200 with Redis's error for $what", async ({ path: p, body, reply }) => {
      const res = await put(p, Buffer.from(body));
      expect([res.status, res.text]).toEqual([200, reply]);
    });

    it("decodes percent-encoded keys, `+` included (as a space)", async () => {
      const key = Buffer.concat([Buffer.from("aigw/test:a.b+c d%?#"), Buffer.from([0x00, 0xff, 0xc3])]);
      const encoded = [...key].map((b) => "%" + b.toString(16).padStart(2, "0")).join("");
      expect((await put(`/SETEX/${encoded}/60.raw`, Buffer.from("pct"))).text).toBe("+OK\r\n");
      expect((await store.redis("GET", key))?.toString()).toBe("pct");
      expect(rawBulk((await get(`/GET/${encoded}.raw`)).body)?.toString()).toBe("pct");
      // Left as they are: `:`; decoded: `+` as a space (a key with `+` must send %2B).
      await put("/SETEX/aigw:test:a+b/60.raw", Buffer.from("plus"));
      expect((await store.redis("GET", "aigw:test:a b"))?.toString()).toBe("plus");
    });
  });

  // Webdis checks the size after each read of at most 4 KB, and only while the request is not
  // complete: a request up to 4 KB over the limit may still pass.
  describe("a request over http_max_request_size", () => {
    const LIMIT = WEBDIS_EXAMPLE.http_max_request_size as number;
    const head = (key: string, length: number) => `PUT /SETEX/${key}/60.raw HTTP/1.1\r\nHost: webdis\r\nContent-Length: ${length}\r\n\r\n`;

    it("fits up to the limit", async () => {
      const fits = Buffer.alloc(LIMIT - 1024, 0x61);
      expect((await put("/SETEX/aigw:test:fits/60.raw", fits)).text).toBe("+OK\r\n");
      expect(await store.redis("STRLEN", "aigw:test:fits")).toBe(fits.length);
    });

    it("is refused with 413 and Connection: Close as a connection's first request, and nothing is stored", async () => {
      const answer = await rawExchange(store.webdisPort, [head("aigw:test:too-large", LIMIT + 4096), Buffer.alloc(LIMIT + 4096, 0x62)]);
      expect(answer).toMatch(/^HTTP\/1\.0 413 Request Entity Too Large\r\n[^]*Connection: Close\r\nContent-Length: 0\r\n\r\n$/);
      expect(await store.redis("EXISTS", "aigw:test:too-large")).toBe(0);
      expect(store.webdisExit()).toBeNull();
    });

    // After a 413 on a kept-alive connection Webdis goes on parsing the body as a request whose
    // path it has freed. Envoy reuses its upstream connections: one oversized write through the
    // cluster ends the shared tier for every Envoy.
    it("crashes Webdis on a connection Envoy reuses", async () => {
      const own = await startSharedStore({ name: "shared-store-crash" });
      const removeLogs = addLogSource("shared store (crash)", own.logs);
      let envoy: Envoy | undefined;
      try {
        envoy = await startEnvoy({ runner: "process", name: "shared-store-crash", config: TEMPLATE, vars: { WEBDIS_PORT: own.webdisPort }, concurrency: 1 });
        for (let i = 0; i < 2; i++) {
          expect((await http1Request(envoy.listenerUrl, { method: "PUT", path: "/SETEX/aigw:test:small/60.raw", body: "v" })).status).toBe(200);
        }
        const big = await http1Request(envoy.listenerUrl, { method: "PUT", path: "/SETEX/aigw:test:big/60.raw", body: Buffer.alloc(LIMIT + 8192, 0x61) });
        expect(big.status).toBe(413);
        const t0 = Date.now();
        while (own.webdisExit() === null && Date.now() - t0 < 3_000) await sleep(20);
        expect(own.webdisExit()).toMatch(/signal SIGSEGV/);
        const after = await http1Request(envoy.listenerUrl, { path: "/GET/aigw:test:small.raw" });
        expect([after.status, after.text]).toEqual([503, "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"]);
      } finally {
        await envoy?.stop();
        await own.close();
        removeLogs();
      }
    });
  });

  describe("ACL", () => {
    it.each([
      ["GET", "/FLUSHALL"],
      ["GET", "/flushall.raw"],
      ["GET", "/FLUSHDB"],
      ["GET", "/KEYS/*"],
      ["GET", "/CONFIG/GET/maxmemory"],
      ["GET", "/DEL/aigw:test:acl"],
      ["GET", "/EVAL/return%201/0"],
      ["GET", "/SCAN/0"],
      ["GET", "/MULTI"],
      ["GET", "/SUBSCRIBE/x"],
      ["POST", "/"],
    ])("refuses %s %s with 403 and an empty body", async (method, p) => {
      await put("/SETEX/aigw:test:acl/60.raw", Buffer.from("still here"));
      const res = await http1Request(store.webdisUrl, { method, path: p, ...(method === "POST" ? { body: "FLUSHALL" } : {}) });
      expect([res.status, res.text]).toEqual([403, ""]);
      expect((await store.redis("GET", "aigw:test:acl"))?.toString()).toBe("still here");
    });

    it("lets SET through (a prefix of SETEX), which Redis's own ACL refuses", async () => {
      const res = await get("/SET/aigw:test:set/v.raw");
      expect([res.status, res.text]).toEqual([200, "-NOPERM this user has no permissions to run the 'set' command\r\n"]);
      expect(await store.redis("EXISTS", "aigw:test:set")).toBe(0);
    });
  });

  describe("Redis outage", () => {
    /** How many GETs Redis has run (INFO commandstats). */
    async function redisGetCalls(): Promise<number> {
      const info = String(await store.redis("INFO", "commandstats"));
      return Number(/^cmdstat_get:calls=(\d+)/m.exec(info)?.[1] ?? 0);
    }

    it("answers 503 with an empty body at once while Redis is down, and works again after startRedis()", async () => {
      await put("/SETEX/aigw:test:before-outage/300.raw", Buffer.from("lost on restart"));
      await store.stopRedis();
      // At once: well within the caller's timeout (10 s, http1Request's default), not ended by it.
      // (2 s leaves room for a loaded machine; the hung case below takes the whole timeout.)
      for (const req of [() => get("/GET/aigw:test:before-outage.raw"), () => put("/SETEX/aigw:test:during-outage/60.raw", Buffer.from("v"))]) {
        const t0 = performance.now();
        const res = await req();
        expect([res.status, res.text]).toEqual([503, ""]);
        expect(performance.now() - t0).toBeLessThan(2_000);
      }
      await store.startRedis();
      const t0 = Date.now();
      let res = await get("/GET/aigw:test:before-outage.raw");
      while (res.status !== 200) {
        expect(Date.now() - t0, "Webdis reconnects within 3 s").toBeLessThan(3_000);
        await sleep(20);
        res = await get("/GET/aigw:test:before-outage.raw");
      }
      // No persistence: the restarted Redis is empty.
      expect(rawBulk(res.body)).toBeNull();
      expect((await put("/SETEX/aigw:test:after-outage/60.raw", Buffer.from("v"))).text).toBe("+OK\r\n");
    });

    it("answers nothing while Redis hangs: only the caller's timeout ends the wait", async () => {
      const gets = await redisGetCalls();
      store.freezeRedis();
      try {
        const t0 = performance.now();
        const res = await http1Request(store.webdisUrl, { path: "/GET/aigw:test:hung.raw", timeoutMs: 500 }).catch((err: Error) => err);
        expect(res).toBeInstanceOf(Error);
        expect(performance.now() - t0).toBeGreaterThanOrEqual(450);
      } finally {
        store.thawRedis();
      }
      // The abandoned request's late answer goes out now; let it land before the next test: Redis
      // has run its GET and Webdis has read every answer.
      await until("Redis has run the abandoned GET and Webdis has read its answer", async () => {
        if ((await redisGetCalls()) < gets + 1) return false;
        return !tcpSockets().some((s) => s.remotePort === store.redisPort && s.rxQueue > 0);
      });
      expect((await get("/GET/aigw:test:hung.raw")).status).toBe(200);
    });

    // Webdis 0.1.9 writes a late answer to the descriptor number the abandoned request came on,
    // whoever holds it by then (fixed upstream in 0.1.20). So a GET can be answered with another
    // key's value: the cache must find its full key inside the record it reads back.
    /** The bodies of the complete HTTP/1.1 responses in `got` (each with its content-length). */
    function completeResponses(got: string): string[] {
      const bodies: string[] = [];
      for (const r of got.split("HTTP/1.1 ").slice(1)) {
        const end = r.indexOf("\r\n\r\n");
        if (end < 0) break;
        const length = /^content-length: *(\d+)/im.exec(r.slice(0, end));
        const body = r.slice(end + 4);
        if (length === null || body.length < Number(length[1])) break;
        bodies.push(body.slice(0, Number(length[1])));
      }
      return bodies;
    }

    it("hands the late answer of an abandoned request to the next connection on its descriptor", async () => {
      await put("/SETEX/aigw:test:key-a/60.raw", Buffer.from("value-of-A"));
      await put("/SETEX/aigw:test:key-b/60.raw", Buffer.from("value-of-B"));
      const open = (p: string) =>
        new Promise<net.Socket & { got: string }>((resolve, reject) => {
          const s = Object.assign(net.connect(store.webdisPort, "127.0.0.1"), { got: "" });
          s.on("data", (d: Buffer) => (s.got += d.toString("latin1")));
          s.once("error", reject);
          s.once("connect", () => {
            s.write(`GET ${p} HTTP/1.1\r\nHost: webdis\r\n\r\n`);
            resolve(s);
          });
        });
      store.freezeRedis();
      let b: (net.Socket & { got: string }) | undefined;
      try {
        let unread = unreadByRedis();
        const a = await open("/GET/aigw:test:key-a.bin");
        await until("Webdis has sent A's GET to Redis", () => unreadByRedis() > unread);
        const aPort = a.localPort!;
        a.destroy(); // A gives up, as Envoy does when an http_call times out
        await until("Webdis has closed A's connection", () => !webdisHolds(aPort));
        unread = unreadByRedis();
        b = await open("/GET/aigw:test:key-b.bin");
        await until("Webdis has sent B's GET to Redis", () => unreadByRedis() > unread);
      } finally {
        store.thawRedis();
      }
      try {
        await until("B's connection holds two complete answers", () => completeResponses(b!.got).length >= 2);
      } finally {
        b!.destroy();
      }
      expect(completeResponses(b!.got).sort()).toEqual(["value-of-A", "value-of-B"]);
    });
  });

  describe("through Envoy", () => {
    let envoy: Envoy;

    beforeAllOrFailEach(async () => {
      envoy = await startEnvoy({ runner: "process", name: "shared-store", config: TEMPLATE, vars: { WEBDIS_PORT: store.webdisPort } });
    });

    afterAll(async () => {
      await envoy?.stop();
    });

    it("runs the README's aigw_webdis cluster", () => {
      const snippet = /```yaml\n([\s\S]*?)```/g;
      const blocks = [...README.matchAll(snippet)].map((m) => m[1]).filter((b) => b.includes("name: aigw_webdis"));
      expect(blocks).toHaveLength(1);
      const cluster = blocks[0]
        .split("\n")
        .filter((l) => l !== "" && !l.startsWith("#"))
        .map((l) => "  " + l)
        .join("\n")
        .replace("port_value: 7379", "port_value: ${WEBDIS_PORT}");
      expect(TEMPLATE).toContain(cluster + "\n");
    });

    it("proxies SETEX and GET to Webdis byte for byte", async () => {
      const value = Buffer.concat([Buffer.from([0x00, 0xff, 0xc3, 0x28]), prng(5)(50_000)]);
      const set = await http1Request(envoy.listenerUrl, { method: "PUT", path: "/SETEX/aigw:test:via-envoy/60.raw", body: value });
      expect([set.status, set.text]).toEqual([200, "+OK\r\n"]);
      const got = await http1Request(envoy.listenerUrl, { path: "/GET/aigw:test:via-envoy.raw" });
      expect(got.status).toBe(200);
      expect(rawBulk(got.body)?.equals(value)).toBe(true);
      const missing = await http1Request(envoy.listenerUrl, { path: "/GET/aigw:test:nothing-here.raw" });
      expect([missing.status, missing.text]).toEqual([200, "$-1\r\n"]);
      expect(await envoy.stat("cluster.aigw_webdis.upstream_rq_200")).toBeGreaterThanOrEqual(3);
    });

    it("passes Webdis's 503 through while Redis is down", async () => {
      await store.stopRedis("SIGKILL");
      try {
        const res = await http1Request(envoy.listenerUrl, { path: "/GET/aigw:test:via-envoy.raw" });
        expect([res.status, res.text]).toEqual([503, ""]);
      } finally {
        await store.startRedis();
      }
    });
  });
});
