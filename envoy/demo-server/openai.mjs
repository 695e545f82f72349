// OpenAI-compatible endpoints: chat completions, completions, embeddings, models. Each plan*
// function validates a parsed body and returns either {error: {status, body}} or a plan whose
// render(meta) builds the response, so validation happens before the request costs warmup,
// latency or a fault draw.
import { isObject, openaiError } from "./http.mjs";
import { chatPromptTokens, estimateTokens, generateEmbedding, generateReply, seedOf } from "./tokens.mjs";

const MAX_CHOICES = 128;
const MAX_EMBEDDING_INPUTS = 2048;
// OpenAI's legacy completions endpoint stops at 16 tokens when max_tokens is omitted.
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

function invalid(message, param, code = "invalid_value") {
  return { error: { status: 400, body: openaiError(message, "invalid_request_error", code, param) } };
}

/** The 404 OpenAI sends for an unknown model. */
export function modelNotFound(model) {
  return openaiError(`The model \`${model}\` does not exist or you do not have access to it.`, "invalid_request_error", "model_not_found", "model");
}

/** Checks the `model` field; returns the model string or an error. */
export function requireModel(body) {
  if (!isObject(body)) return invalid("The request body must be a JSON object.", null, "invalid_type");
  if (body.model === undefined) return invalid("you must provide a model parameter", "model", "missing_required_parameter");
  if (typeof body.model !== "string" || body.model === "") return invalid("'model' must be a non-empty string.", "model", "invalid_type");
  return { model: body.model };
}

function positiveInt(body, field, max = Number.MAX_SAFE_INTEGER) {
  const value = body[field];
  if (value === undefined || value === null) return { value: undefined };
  if (!Number.isInteger(value) || value < 1 || value > max) {
    return invalid(`'${field}' must be an integer from 1 to ${max}.`, field);
  }
  return { value };
}

// Shared checks of stream, stream_options, n and the token cap.
function commonOptions(body, capFields, defaultCap) {
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") {
    return invalid("'stream' must be a boolean.", "stream", "invalid_type");
  }
  const stream = body.stream === true;
  let includeUsage = false;
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (!stream) return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
    if (!isObject(body.stream_options)) return invalid("'stream_options' must be an object.", "stream_options", "invalid_type");
    const flag = body.stream_options.include_usage;
    if (flag !== undefined && typeof flag !== "boolean") {
      return invalid("'stream_options.include_usage' must be a boolean.", "stream_options.include_usage", "invalid_type");
    }
    includeUsage = flag === true;
  }
  const n = positiveInt(body, "n", MAX_CHOICES);
  if (n.error) return n;
  let maxTokens = defaultCap;
  for (const field of capFields) {
    const cap = positiveInt(body, field);
    if (cap.error) return cap;
    if (cap.value !== undefined) maxTokens = cap.value;
  }
  return { stream, includeUsage, n: n.value ?? 1, maxTokens };
}

// The text that seeds generation: the request without its transport options, so the streamed
// and non-streamed answers to one question are the same words, and the upstream name, so two
// versions of a model answer differently.
function seedText(body, upstream) {
  const { stream, stream_options, ...rest } = body;
  return `${upstream}\n${JSON.stringify(rest)}`;
}

function demoOf(entry, serverName) {
  return { server: serverName, model: entry.name, version: entry.version };
}

function usageOf(promptTokens, completionTokens) {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

// Groups a reply's tokens into the text of each SSE chunk.
function chunkTexts(tokens, perChunk) {
  const texts = [];
  for (let i = 0; i < tokens.length; i += perChunk) texts.push(tokens.slice(i, i + perChunk).join(""));
  return texts;
}

/** POST /v1/chat/completions */
export function planChat(body, { entry, config }) {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    return invalid("'messages' must be a non-empty array.", "messages", messages === undefined ? "missing_required_parameter" : "invalid_type");
  }
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObject(m) || typeof m.role !== "string") return invalid(`'messages[${i}]' must be an object with a string 'role'.`, `messages[${i}]`, "invalid_type");
    if (m.content !== undefined && m.content !== null && typeof m.content !== "string" && !Array.isArray(m.content)) {
      return invalid(`'messages[${i}].content' must be a string, an array of parts or null.`, `messages[${i}].content`, "invalid_type");
    }
  }
  const options = commonOptions(body, ["max_tokens", "max_completion_tokens"], undefined);
  if (options.error) return options;
  const promptTokens = chatPromptTokens(messages);
  const seed = seedText(body, entry.upstream);
  const replies = [];
  for (let i = 0; i < options.n; i++) replies.push(generateReply(seedOf(`${i}\n${seed}`), options.maxTokens));
  const completionTokens = replies.reduce((sum, r) => sum + r.tokens.length, 0);
  const usage = usageOf(promptTokens, completionTokens);
  const fingerprint = `fp_demo_${entry.version}`;

  return {
    stream: options.stream,
    render({ requestId, created }) {
      const head = { id: `chatcmpl-${requestId}`, object: "chat.completion", created, model: entry.upstream, system_fingerprint: fingerprint };
      if (!options.stream) {
        const choices = replies.map((r, index) => ({
          index,
          message: { role: "assistant", content: r.tokens.join("") },
          logprobs: null,
          finish_reason: r.finishReason,
        }));
        return { json: { ...head, choices, usage, demo: demoOf(entry, config.name) } };
      }
      const chunkHead = { ...head, object: "chat.completion.chunk" };
      // OpenAI sends "usage": null on every chunk when include_usage is on, then one usage chunk.
      const tail = options.includeUsage ? { usage: null } : {};
      const chunk = (index, delta, finish) => ({ ...chunkHead, choices: [{ index, delta, logprobs: null, finish_reason: finish }], ...tail });
      const events = [];
      replies.forEach((r, index) => {
        events.push(chunk(index, { role: "assistant", content: "" }, null));
        for (const text of chunkTexts(r.tokens, config.tokensPerChunk)) events.push(chunk(index, { content: text }, null));
        events.push(chunk(index, {}, r.finishReason));
      });
      if (options.includeUsage) events.push({ ...chunkHead, choices: [], usage });
      return { events };
    },
  };
}

// A completions prompt: a string, strings, token ids, or lists of token ids. Returns the prompts
// as token counts, or an error.
function promptCounts(prompt) {
  const bad = invalid("'prompt' must be a string, an array of strings, an array of token ids or an array of token-id arrays.", "prompt", "invalid_type");
  if (prompt === undefined) return invalid("you must provide a prompt parameter", "prompt", "missing_required_parameter");
  if (typeof prompt === "string") return { counts: [estimateTokens(prompt)] };
  if (!Array.isArray(prompt) || prompt.length === 0) return bad;
  if (prompt.every((p) => typeof p === "string")) return { counts: prompt.map(estimateTokens) };
  if (prompt.every((p) => Number.isInteger(p))) return { counts: [prompt.length] };
  if (prompt.every((p) => Array.isArray(p) && p.length > 0 && p.every((t) => Number.isInteger(t)))) return { counts: prompt.map((p) => p.length) };
  return bad;
}

/** POST /v1/completions */
export function planCompletion(body, { entry, config }) {
  const prompts = promptCounts(body.prompt);
  if (prompts.error) return prompts;
  const options = commonOptions(body, ["max_tokens"], COMPLETIONS_DEFAULT_MAX_TOKENS);
  if (options.error) return options;
  const seed = seedText(body, entry.upstream);
  // One choice per prompt per n, indexed prompt-major like OpenAI.
  const replies = [];
  for (let p = 0; p < prompts.counts.length; p++) {
    for (let i = 0; i < options.n; i++) replies.push(generateReply(seedOf(`${p}/${i}\n${seed}`), options.maxTokens));
  }
  const promptTokens = prompts.counts.reduce((a, b) => a + b, 0);
  const usage = usageOf(promptTokens, replies.reduce((sum, r) => sum + r.tokens.length, 0));

  return {
    stream: options.stream,
    render({ requestId, created }) {
      const head = { id: `cmpl-${requestId}`, object: "text_completion", created, model: entry.upstream, system_fingerprint: `fp_demo_${entry.version}` };
      if (!options.stream) {
        const choices = replies.map((r, index) => ({ text: r.tokens.join(""), index, logprobs: null, finish_reason: r.finishReason }));
        return { json: { ...head, choices, usage, demo: demoOf(entry, config.name) } };
      }
      const tail = options.includeUsage ? { usage: null } : {};
      const chunk = (index, text, finish) => ({ ...head, choices: [{ text, index, logprobs: null, finish_reason: finish }], ...tail });
      const events = [];
      replies.forEach((r, index) => {
        for (const text of chunkTexts(r.tokens, config.tokensPerChunk)) events.push(chunk(index, text, null));
        events.push(chunk(index, "", r.finishReason));
      });
      if (options.includeUsage) events.push({ ...head, choices: [], usage });
      return { events };
    },
  };
}

/** POST /v1/embeddings */
export function planEmbedding(body, { entry, config }) {
  const input = body.input;
  const bad = invalid("'input' must be a non-empty string, an array of strings, an array of token ids or an array of token-id arrays.", "input", "invalid_type");
  let items;
  if (input === undefined) return invalid("you must provide an input parameter", "input", "missing_required_parameter");
  if (typeof input === "string") items = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => Number.isInteger(x))) items = [input];
  else if (Array.isArray(input)) items = input;
  else return bad;
  if (items.length === 0 || items.length > MAX_EMBEDDING_INPUTS) return bad;
  let promptTokens = 0;
  for (const item of items) {
    if (typeof item === "string" && item !== "") promptTokens += estimateTokens(item);
    else if (Array.isArray(item) && item.length > 0 && item.every((t) => Number.isInteger(t))) promptTokens += item.length;
    else return bad;
  }
  const dims = positiveInt(body, "dimensions", 4096);
  if (dims.error) return dims;
  const format = body.encoding_format ?? "float";
  if (format !== "float" && format !== "base64") return invalid("'encoding_format' must be \"float\" or \"base64\".", "encoding_format");
  const size = dims.value ?? config.embeddingDims;

  return {
    stream: false,
    render() {
      const data = items.map((item, index) => {
        const vector = generateEmbedding(seedOf(`${entry.upstream}\n${size}\n${JSON.stringify(item)}`), size);
        const embedding = format === "base64" ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector;
        return { object: "embedding", index, embedding };
      });
      return {
        json: { object: "list", data, model: entry.upstream, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens }, demo: demoOf(entry, config.name) },
      };
    },
  };
}

/** One entry of GET /v1/models. */
export function modelCard(entry, { config, createdSec }) {
  return { id: entry.upstream, object: "model", created: createdSec, owned_by: config.name, root: entry.upstream, parent: null, demo: demoOf(entry, config.name) };
}
