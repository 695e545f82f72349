// The model server of token-bucket's case table: an OpenAI-style chat completion that reports
// `usage` the way real servers do, so settlement has something to read. Used by the emulator (as
// an upstream handler) and meant for the Envoy runner (behind a node:http server), so both see
// the same answers.
//
// usage: prompt_tokens 12 (whatever the prompt; the filter's estimate differs on purpose), and
// completion_tokens min(max_tokens, 30), or max_tokens itself when a message says "at length"
// (max_tokens absent: 30 / 200). A streamed request (`"stream": true`) gets SSE in several chunks,
// with a usage chunk only if it asked with `stream_options.include_usage`, as OpenAI's API does.
// Message text `fail 500` answers 500 (no usage), `fail 401` and `fail 403` those statuses, `no usage` a 200 without usage. Every answer
// says which max_tokens the server saw: `x-upstream-max-tokens` (absent: "none"). A Responses API
// request (a body with `input` and no `messages`, as POST /v1/responses takes) reads its prompt from
// `input` and its limit from `max_output_tokens`, says which one it saw in
// `x-upstream-max-output-tokens`, and answers a `response` with `input_tokens`/`output_tokens`
// usage, as OpenAI's Responses API does (not streamed here). Asked with an
// `accept-encoding` that names gzip, a JSON answer comes gzipped (`content-encoding: gzip`), as
// hosted APIs answer most HTTP clients.

import { gzipSync } from "node:zlib";

export const PROMPT_TOKENS = 12;

export interface ModelServerReply {
  status: number;
  headers: Record<string, string>;
  /** The body in the frames the server sends (one for JSON, several for SSE; bytes when gzipped). */
  chunks: Array<string | Uint8Array>;
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
    const responsesApi = doc.input !== undefined && doc.messages === undefined;
    const text = JSON.stringify((responsesApi ? doc.input : doc.messages) ?? "");
    const model = typeof doc.model === "string" ? doc.model : "unknown";
    const chatMax = typeof doc.max_tokens === "number" ? doc.max_tokens : typeof doc.max_completion_tokens === "number" ? doc.max_completion_tokens : undefined;
    const outputMax = typeof doc.max_output_tokens === "number" ? doc.max_output_tokens : undefined;
    const max = responsesApi ? outputMax : chatMax;
    const headers: Record<string, string> = { "x-upstream-max-tokens": chatMax === undefined ? "none" : String(chatMax) };
    if (responsesApi) headers["x-upstream-max-output-tokens"] = outputMax === undefined ? "none" : String(outputMax);
    const fail = /fail (500|401|403)/.exec(text);
    if (fail !== null) {
      headers["content-type"] = "application/json";
      return { status: Number(fail[1]), headers, chunks: [JSON.stringify({ error: { message: `failed ${n}`, type: fail[1] === "500" ? "server_error" : "invalid_request_error" } })] };
    }
    const completion = text.includes("at length") ? (max ?? 200) : Math.min(max ?? 30, 30);
    const usage = { prompt_tokens: PROMPT_TOKENS, completion_tokens: completion, total_tokens: PROMPT_TOKENS + completion };
    const id = `chatcmpl-${n}`;
    const content = `Answer ${n} (${completion} tokens).`;
    if (doc.stream === true) {
      headers["content-type"] = "text/event-stream";
      const options = doc.stream_options as Record<string, unknown> | undefined;
      const chunk = (extra: object) => `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 1767225600, model, ...extra })}\n\n`;
      const chunks = [
        chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] }),
        ...content.split(" ").map((w, i) => chunk({ choices: [{ index: 0, delta: { content: (i > 0 ? " " : "") + w }, finish_reason: null }] })),
        chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
      ];
      if (options?.include_usage === true) chunks.push(chunk({ choices: [], usage }));
      chunks.push("data: [DONE]\n\n");
      return { status: 200, headers, chunks };
    }
    headers["content-type"] = "application/json";
    if (responsesApi) {
      const response = {
        id: `resp_${n}`, object: "response", created_at: 1767225600, status: "completed", model,
        output: [{ type: "message", id: `msg_${n}`, status: "completed", role: "assistant", content: [{ type: "output_text", text: content, annotations: [] }] }],
        usage: { input_tokens: PROMPT_TOKENS, output_tokens: completion, total_tokens: PROMPT_TOKENS + completion },
      };
      return { status: 200, headers, chunks: [JSON.stringify(response)] };
    }
    const reply: Record<string, unknown> = {
      id, object: "chat.completion", created: 1767225600, model,
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    };
    if (!text.includes("no usage")) reply.usage = usage;
    if (/\bgzip\b/i.test(acceptEncoding)) {
      headers["content-encoding"] = "gzip";
      return { status: 200, headers, chunks: [new Uint8Array(gzipSync(JSON.stringify(reply)))] };
    }
    return { status: 200, headers, chunks: [JSON.stringify(reply)] };
  }
}
