// Where a request names its model: a header, a path template, or the JSON body's `model`. Each
// gives a ModelRef (name, optional version) or nothing. Pure: the stream passes header values in.

export { parseDecimal } from "../../assembly/http/decimal";
import { PathMatch, PathTemplate, matchTemplateUntil } from "./path-template";
import { ModelEntry } from "./resolve";
import { sameAsciiIgnoreCase } from "../../assembly/runtime/bytes";

/** Where a request named its model. */
export enum Source { Header, Path, Body, Default }
/** Names of Source values (the `source` label of model_router.requests), by value. */
export const SOURCE_NAMES: string[] = ["header", "path", "body", "default"];
export const SOURCE_COUNT: i32 = SOURCE_NAMES.length;

/** Longest model reference a request may send (name, '@', version). */
export const MAX_REF_CHARS: i32 = 512;

/** A model named by a request. `version` is "" when the request named none. */
export class ModelRef {
  /** Index of the configured model `name` names when known already (read in place), else -1. */
  model: i32 = -1;
  /** Named by a built-in template's path (KServe V2, TorchServe), whose bodies do not carry the model. */
  keepsBody: bool = false;

  constructor(
    public name: string,
    public version: string,
    public source: Source,
  ) {}
}

/**
 * Parses `name` or `name@version`; null when a part is empty, the text is too long, or it has a
 * second '@' (no model or version name has one: `llama@v1@v2` is malformed, not model `llama@v1`).
 */
export function parseModelRef(text: string, source: Source): ModelRef | null {
  if (text.length == 0 || text.length > MAX_REF_CHARS) return null;
  const at = text.lastIndexOf("@");
  if (at < 0) return new ModelRef(text, "", source);
  if (at == 0 || at == text.length - 1 || text.indexOf("@") != at) return null;
  return new ModelRef(text.substring(0, at), text.substring(at + 1), source);
}

/** The path source: the first template that matches, or null. */
export function pathRef(templates: PathTemplate[], path: string, names: Map<string, i32> | null = null, models: ModelEntry[] | null = null): ModelRef | null {
  if (templates.length == 0) return null;
  let end = path.indexOf("?");
  if (end < 0) end = path.length;
  let ref = pathRefUntil(templates, path, end, names, models);
  // One trailing '/' (`/v2/models/iris/infer/`) names the same model: without this the path
  // matched no template and the request went to another source, the default model at worst.
  if (ref === null && end > 1 && path.charCodeAt(end - 1) == 0x2f) ref = pathRefUntil(templates, path, end - 1, names, models);
  return ref;
}

/** Most path segments a `{model}` capture spans (a name such as `org/team/llama` has three). */
const MAX_MODEL_SEGMENTS: i32 = 8;

/**
 * The first template's capture in order, each `{model}` taken as one path segment; with `names`
 * (the configured models), a capture naming one of them comes first, tried over up to
 * MAX_MODEL_SEGMENTS segments, so a model called `org/llama` is found at
 * `/v2/models/org/llama/infer` instead of the request going on to another source. With `models`
 * (by the index `names` gives) too, a capture whose version that model has comes before one
 * whose version it lacks: with models `org` and `org/llama`, `/predictions/org/llama` is model
 * `org/llama` (template `/predictions/{model}`), not model `org`'s unknown version `llama`.
 */
function pathRefUntil(templates: PathTemplate[], path: string, end: i32, names: Map<string, i32> | null, models: ModelEntry[] | null): ModelRef | null {
  let first: PathMatch | null = null;
  let firstTemplate: PathTemplate | null = null;
  // The first capture naming a configured model with a version that model lacks.
  let named: PathMatch | null = null;
  let namedTemplate: PathTemplate | null = null;
  // A capture can span only the segments the path has beyond the template's.
  let segments = 0;
  for (let i = 0; i < end; i++) if (path.charCodeAt(i) == 0x2f) segments++;
  for (let i = 0; i < templates.length; i++) {
    const t = unchecked(templates[i]);
    const match = matchTemplateUntil(t, path, end);
    if (match !== null) {
      if (names === null) return refOf(match, t);
      if (names.has(match.model)) {
        if (hasVersion(names, models, match)) return refOf(match, t);
        if (named === null) {
          named = match;
          namedTemplate = t;
        }
      } else if (first === null && !t.knownOnly) {
        first = match;
        firstTemplate = t;
      }
    }
    if (names === null) continue;
    const spans = min(segments - t.segments.length, MAX_MODEL_SEGMENTS - 1);
    for (let span = 1; span <= spans; span++) {
      const longer = matchTemplateUntil(t, path, end, span);
      if (longer === null || !names.has(longer.model)) continue;
      if (hasVersion(names, models, longer)) return refOf(longer, t);
      if (named === null) {
        named = longer;
        namedTemplate = t;
      }
    }
  }
  // A configured model with a version it lacks: the router's 404 names the version.
  if (named !== null) return refOf(named as PathMatch, namedTemplate as PathTemplate);
  // None names a configured model: the first capture, which the router answers with a 404.
  return first !== null ? refOf(first as PathMatch, firstTemplate as PathTemplate) : null;
}

/** Whether the match names no version, or one its (configured) model has; true without `models`. */
function hasVersion(names: Map<string, i32>, models: ModelEntry[] | null, match: PathMatch): bool {
  if (match.version.length == 0 || models === null) return true;
  const m = names.get(match.model);
  return m < models.length && unchecked(models[m]).find(match.version) >= 0;
}

function refOf(match: PathMatch, template: PathTemplate): ModelRef {
  const ref = new ModelRef(match.model, match.version, Source.Path);
  ref.keepsBody = template.builtin;
  return ref;
}

/**
 * True when a body with this content-type may carry JSON: no content-type, `application/json`,
 * or any `+json` type (parameters such as `; charset=utf-8` ignored, case-insensitive). Reads
 * the header value's `len` bytes at `ptr` in place.
 */
export function isJsonContentType(ptr: usize, len: i32): bool {
  let end = 0;
  while (end < len && load<u8>(ptr + <usize>end) != 0x3b) end++; // ';'
  let start = 0;
  while (start < end && isSpace(load<u8>(ptr + <usize>start))) start++;
  while (end > start && isSpace(load<u8>(ptr + <usize>(end - 1)))) end--;
  const n = end - start;
  if (n == 0) return true;
  const type = ptr + <usize>start;
  if (n == 16 && sameAsciiIgnoreCase(type, "application/json")) return true;
  return n > 5 && sameAsciiIgnoreCase(type + <usize>(n - 5), "+json");
}

function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x09;
}

/** The path without its query string. */
export function pathOnly(path: string): string {
  const q = path.indexOf("?");
  return q < 0 ? path : path.substring(0, q);
}

