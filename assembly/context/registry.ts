// Which root context class serves which `root_id`. Plugin modules register their factories at
// start-up; Envoy names the root id of each root context it creates (property `plugin_root_id`).

import { logCritical } from "../host/log";
import { RootContext } from "./root-context";

export type RootFactory = (id: u32, rootId: string) => RootContext;

const factories = new Map<string, RootFactory>();
const names = new Array<string>();
/** Aliases registered (the pipeline's `ai-gateway`): named in the error, not picked by "". */
const aliases = new Array<string>();

/**
 * Makes `factory` build the root contexts whose `root_id` is `rootId`. An `alias` (the pipeline's
 * `ai-gateway`, which every filter registers) does not count as a filter of its own when an
 * empty root id picks the module's only filter.
 */
export function registerRootContext(rootId: string, factory: RootFactory, alias: bool = false): void {
  if (!factories.has(rootId)) {
    if (alias) aliases.push(rootId);
    else names.push(rootId);
  }
  factories.set(rootId, factory);
}

/**
 * Builds the root context for `rootId`. An empty root id selects the only registered filter of a
 * single-filter module; anything unknown gets a root context that refuses its configuration.
 */
export function createRootContext(id: u32, rootId: string): RootContext {
  if (factories.has(rootId)) return factories.get(rootId)(id, rootId);
  if (rootId.length == 0 && names.length == 1) return factories.get(unchecked(names[0]))(id, rootId);
  return new UnknownRootContext(id, rootId);
}

class UnknownRootContext extends RootContext {
  onConfigure(configuration: ArrayBuffer): bool {
    logCritical(
      "root_id: '" + this.rootId + "' names no filter in this module; expected one of: " + names.concat(aliases).join(", "),
    );
    return false;
  }
}
