// Path templates: `/v2/models/{model}/versions/{version}/infer`. A template is a list of
// segments; a segment is literal text or holds one placeholder (`{model}`, `{version}` or `{*}`
// for any value) with optional literal text before and after it (`{model}:predict`). Matching
// compares the path (query string removed) segment by segment; captured values are compared
// verbatim later (no percent-decoding). Pure: no host calls.

/** What a template segment captures: nothing (literal), the model, the version, or any value. */
export enum Placeholder { None, Model, Version, Any }

export class TemplateSegment {
  constructor(
    public prefix: string,
    public placeholder: Placeholder,
    public suffix: string,
  ) {}
}

export class PathTemplate {
  /**
   * The template's text before its first placeholder (and before any non-ASCII character, so it
   * can be compared with a path's bytes in place): a path that does not start with it cannot match.
   */
  readonly literalPrefix: string;
  /**
   * A built-in template (`kserve_v2`, `torchserve`): its API names the model in the path, not in
   * the body, so `rewrite_body_model` leaves such a request's body alone.
   */
  builtin: bool = false;
  /**
   * A capture counts only when it names a configured model: KServe's metadata path
   * `/v2/models/{model}` also has server-wide siblings (Triton's `/v2/models/stats`), which must
   * not be answered 404 as a model named `stats`.
   */
  knownOnly: bool = false;

  constructor(public text: string, public segments: TemplateSegment[]) {
    let end = 0;
    while (end < text.length && text.charCodeAt(end) != 0x7b && text.charCodeAt(end) < 0x80) end++;
    this.literalPrefix = text.substring(0, end);
  }
}

/** A parsed template, or an error message (the expectation) when the text is not a template. */
export class TemplateParse {
  constructor(public template: PathTemplate | null, public error: string) {}
}

/** What a path matched: the model and version (empty when the template has no `{version}`). */
export class PathMatch {
  constructor(public model: string, public version: string) {}
}

/** Built-in templates that match only a configured model's name (`PathTemplate.knownOnly`). */
export const KNOWN_ONLY: string[] = ["/v2/models/{model}/versions/{version}", "/v2/models/{model}"];

/** Built-in template sets by name. */
export function builtinTemplates(name: string): string[] | null {
  if (name == "kserve_v2") {
    return [
      "/v2/models/{model}/versions/{version}/infer",
      "/v2/models/{model}/infer",
      "/v2/models/{model}/versions/{version}/ready",
      "/v2/models/{model}/ready",
      // The model's metadata (KServe V2's `GET /v2/models/{name}[/versions/{version}]`): served
      // by the model's own server, not the default model's. Known names only (KNOWN_ONLY).
      "/v2/models/{model}/versions/{version}",
      "/v2/models/{model}",
    ];
  }
  if (name == "torchserve") {
    return ["/predictions/{model}/{version}", "/predictions/{model}"];
  }
  return null;
}

export function parseTemplate(text: string): TemplateParse {
  const expected = "a path starting with '/' whose segments hold at most one of {model}, {version}, {*}, with exactly one {model}";
  if (text.length == 0 || text.charCodeAt(0) != 0x2f || text.length > 512) return new TemplateParse(null, expected);
  if (text.indexOf("?") >= 0) return new TemplateParse(null, expected);
  const parts = text.substring(1).split("/");
  const segments = new Array<TemplateSegment>();
  let models = 0;
  let versions = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = unchecked(parts[i]);
    const open = part.indexOf("{");
    if (open < 0) {
      if (part.indexOf("}") >= 0 || (part.length == 0 && i + 1 < parts.length)) return new TemplateParse(null, expected);
      segments.push(new TemplateSegment(part, Placeholder.None, ""));
      continue;
    }
    const close = part.indexOf("}", open);
    if (close < 0 || part.indexOf("{", open + 1) >= 0 || part.indexOf("}", close + 1) >= 0) {
      return new TemplateParse(null, expected);
    }
    const name = part.substring(open + 1, close);
    let kind = Placeholder.None;
    if (name == "model") {
      kind = Placeholder.Model;
      models++;
    } else if (name == "version") {
      kind = Placeholder.Version;
      versions++;
    } else if (name == "*") {
      kind = Placeholder.Any;
    } else {
      return new TemplateParse(null, expected);
    }
    segments.push(new TemplateSegment(part.substring(0, open), kind, part.substring(close + 1)));
  }
  if (models != 1 || versions > 1) return new TemplateParse(null, expected);
  return new TemplateParse(new PathTemplate(text, segments), "");
}

/** Matches `path` (which may carry a query string) against one template; null when it does not. */
export function matchTemplate(template: PathTemplate, path: string): PathMatch | null {
  const q = path.indexOf("?");
  return matchTemplateUntil(template, path, q < 0 ? path.length : q);
}

/**
 * `matchTemplate` with the query string's start (or the path's length) already found. The
 * `{model}` segment takes `span` more path segments than one with their '/' (a model name may
 * hold '/': `/v2/models/org/llama/infer` is model `org/llama` with `span` 1).
 */
export function matchTemplateUntil(template: PathTemplate, path: string, end: i32, span: i32 = 0): PathMatch | null {
  if (end == 0 || path.charCodeAt(0) != 0x2f) return null;
  // Most paths fail on the template's first characters: reject those without splitting segments.
  const prefix = template.literalPrefix;
  if (prefix.length > end || !regionEquals(path, 0, prefix)) return null;
  const segments = template.segments;
  let model = "";
  let version = "";
  let pos = 1;
  for (let i = 0; i < segments.length; i++) {
    if (pos > end) return null;
    const seg = unchecked(segments[i]);
    let next = path.indexOf("/", pos);
    for (let k = 0; seg.placeholder == Placeholder.Model && k < span && next >= 0 && next < end; k++) next = path.indexOf("/", next + 1);
    if (next < 0 || next > end) next = end;
    const len = next - pos;
    if (seg.placeholder == Placeholder.None) {
      if (len != seg.prefix.length || !regionEquals(path, pos, seg.prefix)) return null;
    } else {
      const fixed = seg.prefix.length + seg.suffix.length;
      if (len <= fixed) return null;
      if (!regionEquals(path, pos, seg.prefix) || !regionEquals(path, next - seg.suffix.length, seg.suffix)) return null;
      const value = path.substring(pos + seg.prefix.length, next - seg.suffix.length);
      if (seg.placeholder == Placeholder.Model) model = value;
      else if (seg.placeholder == Placeholder.Version) version = value;
    }
    pos = next + 1;
  }
  // Every path segment must be consumed: `pos` lands one past the end exactly.
  if (pos != end + 1) return null;
  return new PathMatch(model, version);
}

/** True when `text` occurs in `path` at `at`. */
function regionEquals(path: string, at: i32, text: string): bool {
  const n = text.length;
  if (at < 0 || at + n > path.length) return false;
  for (let i = 0; i < n; i++) {
    if (path.charCodeAt(at + i) != text.charCodeAt(i)) return false;
  }
  return true;
}
