// Root contexts of the pipeline. Every filter registers its StageKind; that gives it two ways to
// be deployed, with the same answers:
// - `root_id: <filter>` (e.g. `model-router`): a pipeline of that one stage, configured by the
//   filter's own JSON; a separate filter entry per filter, enabled per route with Envoy's
//   FilterConfig.
// - `root_id: ai-gateway`: one filter entry running every stage its configuration names, in chain
//   order, with one body read and one parse:
//     {"model_router": {...}, "routes": {"<route name>": {...}}}
//   (with inference_cache and token_bucket as further sections).
//   `routes` gives per-route settings keyed by Envoy's route `name` (attribute xds.route_name):
//   a stage's section set to `false` turns the stage off on that route; an object overrides
//   the named top-level settings of that stage (or configures a stage the base chain lacks).

import { RootContext } from "../context/root-context";
import { HttpContext } from "../context/http-context";
import { registerRootContext } from "../context/registry";
import { logCritical, logWarn } from "../host/log";
import { nowMillis, setTickPeriod } from "../host/time";
import { getPropertyString } from "../host/properties";
import { Checker, describe, parseConfigDocument, quote } from "../config/checker";
import { JsonValue, parseJsonText, quoteJsonString } from "../json/index";
import { Chain, ChainSelector, StreamPool } from "./pipeline";
import { StageConfigResult, StageRoot } from "./stage";
import { TickSchedule } from "./ticks";

export const PIPELINE_ROOT_ID = "ai-gateway";
/** Most routes with settings of their own. */
const MAX_ROUTES: i32 = 256;

/** One filter as the pipeline knows it. */
export class StageKind {
  constructor(
    /** Key of its section in the pipeline configuration (`model_router`). */
    public readonly section: string,
    /** Its root_id as a separate filter entry (`model-router`). */
    public readonly rootId: string,
    /** Position in the chain: lower runs first on the request. */
    public readonly order: i32,
    /** What a blank configuration lacks ("" means blank is `{}`). */
    public readonly blankExpectation: string,
  ) {}

  /** Validates the stage's configuration object and builds its root; never throws. */
  configure(config: JsonValue): StageConfigResult {
    return new StageConfigResult(new StageRoot(), "");
  }

  /**
   * Settings a route may not override: they shape a table in shared data that every route's
   * root reads and writes (a route with other `slots` would find a tenant's bucket, or a key's
   * entry, in another slot, and evict the other routes' records there).
   */
  fixedAcrossRoutes(): string[] {
    return [];
  }

  /** What the `fixedAcrossRoutes` settings are, for the refusal: the thing every route shares. */
  sharedAcrossRoutes(): string {
    return "the table in shared data";
  }

  /**
   * Whether the stage resolves the model and version that later stages read (the router). On a
   * route that turns it off in a pipeline whose configuration has it, no router of ours set the
   * request's `x-ai-model` or `x-ai-model-version`: a client's copies are removed there, or the
   * later stages would take the model (the token bucket and cache entry it falls in) from the
   * client.
   */
  resolvesModel(): bool {
    return false;
  }
}

const kinds = new Array<StageKind>();
const NO_NAMES: string[] = [];

/**
 * Registers a filter's stage: root_id `kind.rootId` runs it alone, and root_id `ai-gateway` can
 * name it in its configuration.
 */
export function registerStage(kind: StageKind): void {
  // Kept sorted by chain order (insertion: a module registers a handful).
  kinds.push(kind);
  for (let i = kinds.length - 1; i > 0 && unchecked(kinds[i - 1]).order > kind.order; i--) {
    unchecked((kinds[i] = unchecked(kinds[i - 1])));
    unchecked((kinds[i - 1] = kind));
  }
  registerRootContext(kind.rootId, (id: u32, rootId: string): RootContext => new PipelineRoot(id, rootId));
  registerRootContext(PIPELINE_ROOT_ID, (id: u32, rootId: string): RootContext => new PipelineRoot(id, rootId), true);
}

/** The route's chain, looked up by Envoy's route name. */
class RouteSelector extends ChainSelector {
  constructor(private byRoute: Map<string, Chain>) {
    super();
  }

  select(): Chain | null {
    const name = getPropertyString(["xds", "route_name"]);
    if (name === null || !this.byRoute.has(name)) return null;
    return this.byRoute.get(name);
  }
}

export class PipelineRoot extends RootContext {
  private chain: Chain | null = null;
  private selector: ChainSelector | null = null;
  private pool: StreamPool = new StreamPool();
  /** Every configured stage root, per-route ones included: each gets the ticks it asks for. */
  private roots: StageRoot[] = [];
  private ticks: TickSchedule = new TickSchedule([], 0);

  onConfigure(configuration: ArrayBuffer): bool {
    const error = this.rootId == PIPELINE_ROOT_ID ? this.configurePipeline(configuration) : this.configureSingle(configuration);
    if (error.length == 0) {
      this.pool.rootId = this.rootId;
      const roots = this.roots;
      for (let i = 0; i < roots.length; i++) unchecked(roots[i]).onConfigured();
      this.armTicks();
      return true;
    }
    logCritical(this.rootId + ": " + error);
    return false;
  }

  newHttpContext(id: u32): HttpContext {
    const chain = this.chain;
    // Unconfigured (Envoy never sends traffic then): pass everything through.
    if (chain === null) return new HttpContext(id);
    return this.pool.take(id, chain, this.selector);
  }

  onTick(): void {
    const roots = this.roots;
    const ticks = this.ticks;
    const now = ticks.needsClock ? nowMillis() : 0;
    for (let i = 0; i < roots.length; i++) {
      if (ticks.due(i, now)) unchecked(roots[i]).onTick();
    }
  }

  /** One tick period for every stage root's: the shortest, the others counted out on it. */
  private armTicks(): void {
    const roots = this.roots;
    const periods = new Array<u32>(roots.length);
    for (let i = 0; i < roots.length; i++) unchecked((periods[i] = unchecked(roots[i]).tickPeriodMs()));
    const ticks = new TickSchedule(periods, nowMillis());
    this.ticks = ticks;
    // 0 disarms a tick an earlier configuration of this root context armed.
    setTickPeriod(ticks.armed);
  }

  /** root_id `<filter>`: the whole configuration is that filter's. Returns "" or the error. */
  private configureSingle(configuration: ArrayBuffer): string {
    const kind = kindByRootId(this.rootId);
    if (kind === null) return "root_id: expected one of the filters in this module, got " + quote(this.rootId);
    const doc = parseConfigDocument(configuration, kind.blankExpectation, kind.blankExpectation.length == 0);
    if (doc.root === null) return doc.error;
    const result = kind.configure(doc.root as JsonValue);
    const root = result.root;
    if (root === null) return result.error;
    root.rootContextId = this.id;
    // A separate entry of another stage keeps the router's x-ai-* headers, and only the router's.
    this.chain = new Chain([root], false, !kind.resolvesModel());
    this.roots.push(root);
    return "";
  }

  /** root_id `ai-gateway`: sections by stage plus `routes`. Returns "" or the error. */
  private configurePipeline(configuration: ArrayBuffer): string {
    const doc = parseConfigDocument(configuration, "a JSON object with a section per stage (" + sectionList() + ")");
    if (doc.root === null) return doc.error;
    const top = doc.root as JsonValue;
    const c = new Checker();
    const allowed = sections();
    allowed.push("routes");
    c.keys(top, "", allowed);
    if (c.failed) return c.error;

    const base = new Array<StageRoot>();
    const baseKinds = new Array<StageKind>();
    for (let i = 0; i < kinds.length; i++) {
      const kind = unchecked(kinds[i]);
      const section = top.get(kind.section);
      if (section === null) continue;
      if (!section.isObject()) {
        c.failValue(kind.section, "an object with the " + kind.rootId + " configuration", section);
        return c.error;
      }
      const result = kind.configure(section);
      if (result.root === null) return kind.section + "." + result.error;
      (result.root as StageRoot).rootContextId = this.id;
      base.push(result.root as StageRoot);
      baseKinds.push(kind);
      this.roots.push(result.root as StageRoot);
    }
    if (base.length == 0) return "configuration: expected at least one stage section (" + sectionList() + "), got none";
    let baseResolves = false;
    for (let i = 0; i < baseKinds.length; i++) {
      if (!unchecked(baseKinds[i]).resolvesModel()) continue;
      baseResolves = true;
      warnOfUnroutedModels(unchecked(baseKinds[i]), unchecked(base[i]), baseKinds, base);
    }
    // Without the router, the stages would take the model from a client's x-ai-model.
    this.chain = new Chain(base, !baseResolves);
    if (!baseResolves) {
      for (let i = 0; i < base.length; i++) {
        const warning = unchecked(base[i]).withoutRouterWarning();
        if (warning.length > 0) logWarn(PIPELINE_ROOT_ID + ": " + unchecked(baseKinds[i]).section + ": " + warning);
      }
    }

    const routes = c.object(top, "routes", "", "an object of route names to per-route settings");
    if (c.failed) return c.error;
    if (routes === null) return "";
    if (routes.length > MAX_ROUTES) {
      c.failValue("routes", "at most " + MAX_ROUTES.toString() + " routes", routes);
      return c.error;
    }
    c.keys(routes, "routes", null);
    if (c.failed) return c.error;
    const byRoute = new Map<string, Chain>();
    // Stages the base chain lacks and a route adds: the first route that adds each, and the
    // source text of its settings that shape the stage's shared table ("" when left default).
    const addedBy = new Map<string, string>();
    const addedFixed = new Map<string, string>();
    for (let r = 0; r < routes.length; r++) {
      const name = routes.keyAt(r);
      const field = "routes." + name;
      const settings = routes.valueAt(r) as JsonValue;
      if (!settings.isObject()) {
        c.failValue(field, "an object of stage sections, each false or an object of settings", settings);
        return c.error;
      }
      c.keys(settings, field, sections());
      if (c.failed) return c.error;
      const chosen = new Array<StageRoot>();
      const chosenKinds = new Array<StageKind>();
      let resolves = false;
      for (let i = 0; i < kinds.length; i++) {
        const kind = unchecked(kinds[i]);
        const patch = settings.get(kind.section);
        const baseAt = baseKinds.indexOf(kind);
        if (patch === null) {
          if (baseAt >= 0) {
            chosen.push(unchecked(base[baseAt]));
            chosenKinds.push(kind);
            if (kind.resolvesModel()) resolves = true;
          }
          continue;
        }
        const sfield = field + "." + kind.section;
        if (patch.isBool() && !patch.asBool()) continue;
        if (!patch.isObject()) {
          c.failValue(sfield, "false (the stage is off on this route) or an object of settings", patch);
          return c.error;
        }
        if (baseAt < 0 && !this.agreesWithOtherAdders(c, kind, patch, name, sfield, addedBy, addedFixed)) return c.error;
        // A route that only adds the stage has no base table to differ from (the routes that add
        // it agree among themselves: above).
        const fixed = baseAt >= 0 ? kind.fixedAcrossRoutes() : NO_NAMES;
        for (let f = 0; f < fixed.length; f++) {
          const value = patch.get(unchecked(fixed[f]));
          if (value === null) continue;
          c.failValue(sfield + "." + unchecked(fixed[f]), "a setting a route may change (" + fixed.join(" and ") +
            (fixed.length == 1 ? " shapes " : " shape ") + kind.sharedAcrossRoutes() + " that every route uses: set it in the " +
            kind.section + " section)", value);
          return c.error;
        }
        const merged = baseAt >= 0 ? mergeTop(top.get(kind.section) as JsonValue, patch) : patch;
        const result = kind.configure(merged);
        if (result.root === null) return sfield + "." + result.error;
        (result.root as StageRoot).rootContextId = this.id;
        chosen.push(result.root as StageRoot);
        chosenKinds.push(kind);
        this.roots.push(result.root as StageRoot);
        if (kind.resolvesModel()) resolves = true;
      }
      // A route without the router (it turns it off, or the base has none) takes the model from the
      // body as the base chain without it does: the same warnings, for the roots not warned of above.
      if (!resolves) {
        for (let i = 0; i < chosen.length; i++) {
          const root = unchecked(chosen[i]);
          if (!baseResolves && base.includes(root)) continue;
          const warning = root.withoutRouterWarning();
          if (warning.length > 0) logWarn(PIPELINE_ROOT_ID + ": " + field + "." + unchecked(chosenKinds[i]).section + ": " + warning);
        }
      }
      // A route with no stage at all lets the request through untouched; one whose stages read
      // the model (without the router before them) must not read the client's.
      byRoute.set(name, new Chain(chosen, !resolves && chosen.length > 0));
    }
    this.selector = new RouteSelector(byRoute);
    return "";
  }

  /**
   * A route that adds a stage the base chain lacks: its settings that shape the stage's table in
   * shared data (`fixedAcrossRoutes`) must equal those of every other route that adds it, since
   * they all share that one table. False (with the error set) when they differ.
   */
  private agreesWithOtherAdders(c: Checker, kind: StageKind, patch: JsonValue, route: string, sfield: string,
    addedBy: Map<string, string>, addedFixed: Map<string, string>): bool {
    const fixed = kind.fixedAcrossRoutes();
    const first = addedBy.has(kind.section) ? addedBy.get(kind.section) : null;
    for (let f = 0; f < fixed.length; f++) {
      const field = unchecked(fixed[f]);
      const value = patch.get(field);
      const text = value === null ? "" : value.raw();
      const key = kind.section + "." + field;
      if (first === null) {
        addedFixed.set(key, text);
        continue;
      }
      const theirs = addedFixed.get(key);
      if (theirs == text) continue;
      c.fail(sfield + "." + field, "the value of route " + quote(first as string) + ", which adds " + kind.section +
        " too (" + (theirs.length == 0 ? "the default" : theirs) + "): routes share " + kind.sharedAcrossRoutes(),
        text.length == 0 ? "the default" : describe(value as JsonValue));
      return false;
    }
    if (first === null) addedBy.set(kind.section, route);
    return true;
  }
}

/**
 * Warns of each model another stage's section names that `router` never routes to: in this one
 * entry the router resolves every request's model, so such settings (a token bucket's limits, a
 * cache policy, a warmup target) apply only on routes that turn the router off. Most likely a
 * typo, so a warning at start, not a refusal.
 */
function warnOfUnroutedModels(routerKind: StageKind, router: StageRoot, kinds: StageKind[], roots: StageRoot[]): void {
  for (let i = 0; i < roots.length; i++) {
    const named = unchecked(roots[i]).namedModels();
    for (let n = 0; n < named.length; n++) {
      const m = unchecked(named[n]);
      if (router.routesTo(m.model, m.version)) continue;
      const what = m.version.length == 0 ? "no model " + quote(m.model) : "no version " + quote(m.version) + " of a model " + quote(m.model);
      logWarn(PIPELINE_ROOT_ID + ": " + unchecked(kinds[i]).section + "." + m.field + ": " + routerKind.section + " has " + what +
        ", so these settings apply only on routes that turn " + routerKind.section + " off");
    }
  }
}

function kindByRootId(rootId: string): StageKind | null {
  for (let i = 0; i < kinds.length; i++) if (unchecked(kinds[i]).rootId == rootId) return unchecked(kinds[i]);
  // An empty root_id selects the only filter of a single-filter module.
  if (rootId.length == 0 && kinds.length == 1) return unchecked(kinds[0]);
  return null;
}

function sections(): string[] {
  const out = new Array<string>();
  for (let i = 0; i < kinds.length; i++) out.push(unchecked(kinds[i]).section);
  return out;
}

function sectionList(): string {
  return sections().join(", ");
}

/** `base` with `patch`'s members replacing (or adding to) its top-level members. */
function mergeTop(base: JsonValue, patch: JsonValue): JsonValue {
  let text = "{";
  let first = true;
  for (let i = 0; i < base.length; i++) {
    const key = base.keyAt(i);
    if (patch.has(key)) continue;
    text += (first ? "" : ",") + quoteJsonString(key) + ":" + (base.valueAt(i) as JsonValue).raw();
    first = false;
  }
  for (let i = 0; i < patch.length; i++) {
    text += (first ? "" : ",") + quoteJsonString(patch.keyAt(i)) + ":" + (patch.valueAt(i) as JsonValue).raw();
    first = false;
  }
  // Both halves are spans of valid JSON, so the merge parses.
  const parsed = parseJsonText(text + "}");
  return parsed.value === null ? patch : parsed.value as JsonValue;
}
