// Public surface of the emulator; see README.md.
export { Host, type HostOptions, type FilterChain, type ForeignFunction, type HostCallFailure, type SharedValueView, type TrapRecord } from "./host";
export { Vm, EmulatorTrapError, RestrictedCallError, type VmOptions } from "./vm";
export { Plugin, type PluginOptions } from "./plugin";
export { Stream, type StreamOptions, type FrameOptions } from "./stream";
export { echoUpstream, type RequestInit, type RequestOptions, type RequestResult } from "./request";
export type { Action, DownstreamResponse, LocalReply } from "./filter-manager";
export type { UpstreamHandler, UpstreamRequest, UpstreamResponse } from "./upstream";
export type { ClusterHandler, ClusterOptions, HttpCallRecord, HttpCallReply, HttpCallRequest } from "./http-calls";
export type { LogEntry, LogQuery } from "./logs";
export type { ConflictInjection, GuestSet } from "./shared-data";
export { decodePairs, encodePairs } from "./pairs";
export {
  BufferType, HeaderMapType, MetricType, StreamType, WasmResult, wasmResultName,
  type BodyInit, type FilterStatusName, type HeaderInit, type LogLevelName,
} from "./types";
