// The integration harness: start a real Envoy (container or process), validate configs, run
// upstreams, the compose stack, the cache's shared store (Redis behind Webdis), the tests'
// rate-limit service (over that Redis) and real model servers (llama-server, MLServer), and print
// logs when a test fails.
export { startEnvoy, validateConfig, parseStats, sumStats, startedEnvoys, type Envoy, type EnvoyOptions, type Runner, type ValidateResult } from "./envoy";
export { placeholders, renderTemplate, readTemplate, yamlString, localizeExample, EXAMPLE_WASM_DIR, type Vars } from "./config";
export { freePort, freePorts, listenOnLoopback } from "./ports";
export { startUpstream, type Upstream } from "./upstream";
export { http1Request, h2cRequest, closeHttp1Connections, type HttpRequest, type HttpResponse, type RepeatedHeadersRequest } from "./client";
export { printEnvoyLogsOnFailure, addLogSource } from "./logs";
export { ROOT, BUILD_DIR, MissingToolError, envoyBinary, envoyImage, nodeImage } from "./paths";
export { startComposeStack, composeCommand, hostModeConfig, socketAddresses, portVariable, type ComposeStack } from "./compose";
export { startSharedStore, renderRedisConfig, renderWebdisConfig, SHARED_STORE_EXAMPLES, HARNESS_REDIS_USER, RedisReplyError, type SharedStore, type SharedStoreOptions, type RespValue } from "./shared-store";
export {
  startRatelimitService,
  shouldRateLimit,
  ratelimitCacheKey,
  ratelimitPython,
  encodeRatelimitRequest,
  decodeRatelimitResponse,
  GrpcError,
  RATELIMIT_SERVICE_DIR,
  RATELIMIT_UNIT_SECONDS,
  type RatelimitService,
  type RatelimitServiceOptions,
  type RatelimitRequest,
  type RatelimitResponse,
  type RatelimitDescriptor,
  type RatelimitDescriptorStatus,
  type RatelimitCode,
  type RatelimitUnit,
} from "./ratelimit-service";
export {
  startLlamaServer,
  startMlServer,
  modelServersInstall,
  modelServersCache,
  ggufModel,
  routerModelStatus,
  probe,
  watchStatus,
  portOpen,
  type ModelServer,
  type ModelServersInstall,
  type LlamaServer,
  type LlamaServerOptions,
  type MlServer,
  type MlServerModel,
  type MlServerOptions,
  type StartWait,
  type Answer,
  type Observation,
} from "./model-servers";
