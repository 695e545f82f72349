// Host functions of the proxy-wasm ABI 0.2.1 that Envoy registers (module "env"), plus the one
// WASI call we need. Only functions a module actually calls end up in its import section, so a
// plugin that never uses queues imports no queue functions. Pointers are guest addresses;
// `*_ptr_ptr`/`*_size_ptr` are out-params the host fills (allocating through our `malloc`).

// @ts-ignore: decorator
@external("env", "proxy_log")
export declare function proxy_log(level: u32, message_ptr: usize, message_size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_log_level")
export declare function proxy_get_log_level(level_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_current_time_nanoseconds")
export declare function proxy_get_current_time_nanoseconds(time_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_tick_period_milliseconds")
export declare function proxy_set_tick_period_milliseconds(period_ms: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_effective_context")
export declare function proxy_set_effective_context(context_id: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_done")
export declare function proxy_done(): u32;

// @ts-ignore: decorator
@external("env", "proxy_get_buffer_bytes")
export declare function proxy_get_buffer_bytes(buffer_type: u32, start: u32, max_size: u32, ptr_ptr: usize, size_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_buffer_bytes")
export declare function proxy_set_buffer_bytes(buffer_type: u32, start: u32, size: u32, data_ptr: usize, data_size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_buffer_status")
export declare function proxy_get_buffer_status(buffer_type: u32, length_ptr: usize, flags_ptr: usize): u32;

// @ts-ignore: decorator
@external("env", "proxy_get_header_map_pairs")
export declare function proxy_get_header_map_pairs(map_type: u32, ptr_ptr: usize, size_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_header_map_pairs")
export declare function proxy_set_header_map_pairs(map_type: u32, ptr: usize, size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_header_map_size")
export declare function proxy_get_header_map_size(map_type: u32, size_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_header_map_value")
export declare function proxy_get_header_map_value(map_type: u32, key_ptr: usize, key_size: usize, value_ptr_ptr: usize, value_size_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_add_header_map_value")
export declare function proxy_add_header_map_value(map_type: u32, key_ptr: usize, key_size: usize, value_ptr: usize, value_size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_replace_header_map_value")
export declare function proxy_replace_header_map_value(map_type: u32, key_ptr: usize, key_size: usize, value_ptr: usize, value_size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_remove_header_map_value")
export declare function proxy_remove_header_map_value(map_type: u32, key_ptr: usize, key_size: usize): u32;

// @ts-ignore: decorator
@external("env", "proxy_get_property")
export declare function proxy_get_property(path_ptr: usize, path_size: usize, value_ptr_ptr: usize, value_size_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_property")
export declare function proxy_set_property(path_ptr: usize, path_size: usize, value_ptr: usize, value_size: usize): u32;

// @ts-ignore: decorator
@external("env", "proxy_get_shared_data")
export declare function proxy_get_shared_data(key_ptr: usize, key_size: usize, value_ptr_ptr: usize, value_size_ptr: usize, cas_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_shared_data")
export declare function proxy_set_shared_data(key_ptr: usize, key_size: usize, value_ptr: usize, value_size: usize, cas: u32): u32;

// @ts-ignore: decorator
@external("env", "proxy_register_shared_queue")
export declare function proxy_register_shared_queue(name_ptr: usize, name_size: usize, token_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_resolve_shared_queue")
export declare function proxy_resolve_shared_queue(vm_id_ptr: usize, vm_id_size: usize, name_ptr: usize, name_size: usize, token_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_dequeue_shared_queue")
export declare function proxy_dequeue_shared_queue(token: u32, data_ptr_ptr: usize, data_size_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_enqueue_shared_queue")
export declare function proxy_enqueue_shared_queue(token: u32, data_ptr: usize, data_size: usize): u32;

// @ts-ignore: decorator
@external("env", "proxy_continue_stream")
export declare function proxy_continue_stream(stream_type: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_close_stream")
export declare function proxy_close_stream(stream_type: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_send_local_response")
export declare function proxy_send_local_response(status_code: u32, details_ptr: usize, details_size: usize, body_ptr: usize, body_size: usize, headers_ptr: usize, headers_size: usize, grpc_status: i32): u32;

// @ts-ignore: decorator
@external("env", "proxy_http_call")
export declare function proxy_http_call(upstream_ptr: usize, upstream_size: usize, headers_ptr: usize, headers_size: usize, body_ptr: usize, body_size: usize, trailers_ptr: usize, trailers_size: usize, timeout_ms: u32, token_ptr: usize): u32;

// @ts-ignore: decorator
@external("env", "proxy_define_metric")
export declare function proxy_define_metric(metric_type: u32, name_ptr: usize, name_size: usize, id_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_increment_metric")
export declare function proxy_increment_metric(metric_id: u32, offset: i64): u32;
// @ts-ignore: decorator
@external("env", "proxy_record_metric")
export declare function proxy_record_metric(metric_id: u32, value: u64): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_metric")
export declare function proxy_get_metric(metric_id: u32, value_ptr: usize): u32;

// @ts-ignore: decorator
@external("env", "proxy_call_foreign_function")
export declare function proxy_call_foreign_function(name_ptr: usize, name_size: usize, arg_ptr: usize, arg_size: usize, ret_ptr_ptr: usize, ret_size_ptr: usize): u32;

// Envoy serves WASI `random_get` from a CSPRNG (at most 64 KiB per call).
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
export declare function wasi_random_get(buf_ptr: usize, buf_len: usize): u16;
