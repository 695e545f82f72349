// The model server of the cache's case table: an OpenAI-style chat completion whose id and text
// carry the number of the request (so a replayed body is told apart from a fresh one), as JSON or,
// for `"stream": true`, as SSE in several chunks. Message text `fail 500` answers 500; `set cookie`
// adds a set-cookie header; `max-age 0` adds `cache-control: public, max-age=0`, `s-maxage 60`
// `max-age=0, s-maxage=60`, `max-age 1` `public, max-age=1`, `max-age abc` `public, max-age=abc`, `aged N` `public, max-age=60` with `age: N`; `vary X` adds `vary: X` (X up to the next space); `error answer` answers 200 with an error (the body, or a stream's event); `error event` streams an event named `error` (the Responses API's and Anthropic's way); `empty stream` streams nothing but `data: [DONE]` after a keep-alive comment; `done first` streams `data: [DONE]` before its one chunk; `broken json` answers 200 with a JSON body cut short (a stream: an event cut short, then `[DONE]`). Used by the emulator (as an upstream handler) and by the Envoy runner
// (behind a node:http server), so both see the same answers. Asked with an `accept-encoding`
// that names gzip, a JSON answer is sent gzipped (`encoded`, with `content-encoding: gzip`), as
// hosted APIs answer most HTTP clients.

import { gzipSync } from "node:zlib";

export interface ModelServerReply {
  status: number;
  headers: Record<string, string>;
  /** The body in the frames the server sends (one for JSON, several for SSE). */
  chunks: string[];
  /** The JSON body gzipped, when the request asked for gzip: sent instead of `chunks`. */
  encoded?: Uint8Array;
}

/** What the server writes: the gzipped body when there is one, else the chunks. */
export function bodyFrames(reply: ModelServerReply): Array<string | Uint8Array> {
  return reply.encoded !== undefined ? [reply.encoded] : reply.chunks;
}

export class ModelServer {
  /** Requests answered so far. */
  count = 0;

  answer(body: string, acceptEncoding = ""): ModelServerReply {
    const n = ++this.count;
    let doc: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) doc = parsed as Record<string, unknown>;
    } catch {
      // Not JSON: answered all the same, as a lenient server would.
    }
    const text = JSON.stringify(doc.messages ?? "");
    const model = typeof doc.model === "string" ? doc.model : "unknown";
    if (text.includes("fail 500")) {
      return { status: 500, headers: { "content-type": "application/json" }, chunks: [JSON.stringify({ error: { message: `failed ${n}`, type: "server_error" } })] };
    }
    if (text.includes("broken json")) {
      // A body labelled JSON that is cut short: what a failing upstream or proxy may send; as a
      // stream, an event whose data is cut short, and the stream's end all the same.
      if (doc.stream === true) {
        return { status: 200, headers: { "content-type": "text/event-stream" }, chunks: [`data: {"id":"chatcmpl-${n}","choices":[{"del\n\n`, "data: [DONE]\n\n"] };
      }
      return { status: 200, headers: { "content-type": "application/json" }, chunks: [`{"id":"chatcmpl-${n}","choices":[{"message":{"content":"hel`] };
    }
    if (doc.stream === true && text.includes("error event")) {
      return { status: 200, headers: { "content-type": "text/event-stream" }, chunks: [
        `data: ${JSON.stringify({ id: `chatcmpl-${n}`, object: "chat.completion.chunk", created: 1767225600, model, choices: [{ index: 0, delta: { role: "assistant", content: "Hel" }, finish_reason: null }] })}\n\n`,
        `event: error\ndata: ${JSON.stringify({ type: "error", code: "server_error", message: `overloaded ${n}` })}\n\n`, "data: [DONE]\n\n",
      ] };
    }
    if (doc.stream === true && text.includes("empty stream")) {
      return { status: 200, headers: { "content-type": "text/event-stream" }, chunks: [": keep-alive\n\n", "data: [DONE]\n\n"] };
    }
    if (doc.stream === true && text.includes("done first")) {
      return { status: 200, headers: { "content-type": "text/event-stream" }, chunks: [
        "data: [DONE]\n\n",
        `data: ${JSON.stringify({ id: `chatcmpl-${n}`, object: "chat.completion.chunk", created: 1767225600, model, choices: [{ index: 0, delta: { role: "assistant", content: "late" }, finish_reason: "stop" }] })}\n\n`,
      ] };
    }
    if (text.includes("error answer")) {
      // An error in a 200, as servers send one in band: a JSON body, or (vLLM, when generation
      // fails mid-stream) an event with `error` before the stream's end.
      const error = JSON.stringify({ error: { message: `CUDA out of memory ${n}`, type: "InternalServerError", code: 500 } });
      if (doc.stream === true) {
        return { status: 200, headers: { "content-type": "text/event-stream" }, chunks: [
          `data: ${JSON.stringify({ id: `chatcmpl-${n}`, object: "chat.completion.chunk", created: 1767225600, model, choices: [{ index: 0, delta: { role: "assistant", content: "Hel" }, finish_reason: null }] })}\n\n`,
          `data: ${error}\n\n`, "data: [DONE]\n\n",
        ] };
      }
      return { status: 200, headers: { "content-type": "application/json" }, chunks: [error] };
    }
    const headers: Record<string, string> = {};
    if (text.includes("set cookie")) headers["set-cookie"] = `session=${n}`;
    if (text.includes("max-age 0")) headers["cache-control"] = "public, max-age=0";
    if (text.includes("s-maxage 60")) headers["cache-control"] = "max-age=0, s-maxage=60";
    if (text.includes("max-age 1")) headers["cache-control"] = "public, max-age=1";
    if (text.includes("max-age abc")) headers["cache-control"] = "public, max-age=abc";
    const vary = /vary ([^ "]+)/.exec(text);
    if (vary !== null) headers.vary = vary[1].replaceAll("+", " ");
    // Already this old when it arrives (a CDN or cache in front of the server), with 60 s of freshness.
    const aged = /aged (\d+)/.exec(text);
    if (aged !== null) {
      headers["cache-control"] = "public, max-age=60";
      headers.age = aged[1];
    }
    const id = `chatcmpl-${n}`;
    const content = `The answer is 4 (request ${n}).`;
    if (doc.stream === true) {
      headers["content-type"] = "text/event-stream";
      // As SSE servers do (the demo server too): it must not keep the stream out of the cache.
      headers["cache-control"] = "no-cache";
      const chunk = (delta: object, finish: string | null) =>
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 1767225600, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      const words = content.split(" ");
      return {
        status: 200,
        headers,
        chunks: [
          chunk({ role: "assistant", content: "" }, null),
          ...words.map((w, i) => chunk({ content: (i > 0 ? " " : "") + w }, null)),
          chunk({}, "stop"),
          "data: [DONE]\n\n",
        ],
      };
    }
    headers["content-type"] = "application/json";
    const json = JSON.stringify({
      id, object: "chat.completion", created: 1767225600, model,
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 },
    });
    if (/\bgzip\b/i.test(acceptEncoding)) {
      headers["content-encoding"] = "gzip";
      return { status: 200, headers, chunks: [json], encoded: new Uint8Array(gzipSync(json)) };
    }
    return { status: 200, headers, chunks: [json] };
  }
}

/** The data of each event of an SSE body, in order (comments and blank lines skipped). */
export function sseEvents(body: string): string[] {
  const out: string[] = [];
  for (const block of body.replace(/\r\n?/g, "\n").split("\n\n")) {
    const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
    if (data.length > 0) out.push(data.join("\n"));
  }
  return out;
}
