// The public surface of the ABI layer for plugins. Entry files also `export *` from
// "assembly/abi/exports" so that Envoy finds the proxy_on_* entry points.

export * from "./abi/types";
export { RootContext } from "./context/root-context";
export { HttpContext } from "./context/http-context";
export { registerRootContext, RootFactory } from "./context/registry";
export { getBuffer, setBuffer, bufferLength } from "./host/buffers";
export { callForeignFunction, clearRouteCache } from "./host/foreign";
export {
  HeaderMap, requestHeaders, requestTrailers, responseHeaders, responseTrailers,
  httpCallResponseHeaders, httpCallResponseTrailers,
} from "./host/headers";
export { httpCall, HttpCallHandler, HttpCallResponse, pendingHttpCalls } from "./host/http-call";
export { log, logEnabled, logTrace, logDebug, logInfo, logWarn, logError, logCritical } from "./host/log";
export { Metric, defineMetric, defineCounter, defineGauge, defineHistogram, metricLabel } from "./host/metrics";
export { HeaderPair, PairsWriter, serializePairs, parsePairs } from "./host/pairs";
export { getProperty, getPropertyString, setProperty } from "./host/properties";
export { SharedValue, getSharedData, setSharedData } from "./host/shared-data";
export { registerSharedQueue, resolveSharedQueue, enqueueSharedQueue, dequeueSharedQueue } from "./host/shared-queue";
export { lastStatus } from "./host/status";
export { sendLocalResponse, sendLocalResponseRaw, localReplyHeaders, continueRequest, continueResponse, closeRequest, closeResponse } from "./host/stream";
export { nowNanos, nowMillis, setTickPeriod, randomU64, randomBelow } from "./host/time";
