/**
 * The compute layer: engine choice and the training kernels the `wasm`
 * engine lacks.
 *
 * @module
 */
export * from "./init_backend.ts";
export * from "./wasm_kernels.ts";
export * from "./second_order.ts";
export * from "./memory.ts";
