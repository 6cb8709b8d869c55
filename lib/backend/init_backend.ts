/**
 * Chooses and starts the compute engine.
 *
 * @module
 */
import {
  loadCpuBackend,
  loadWasmBackend,
  loadWebGpuBackend,
  tf,
  TFJS_NODE_SPECIFIERS,
  TFJS_VERSION,
} from "../deps.ts";
import { registerKernelFixes, registerWasmTrainingKernels } from "./wasm_kernels.ts";
import { prepareWasmThreads, shutdownWasmThreads } from "./wasm_threads.ts";
import { registerSecondOrderGradients } from "./second_order.ts";

/** The engines saliency-lab can run on, fastest first. */
export const ENGINES = ["tensorflow", "webgpu", "wasm", "cpu"] as const;

/** One engine's name. */
export type EngineName = typeof ENGINES[number];

/** Options for {@linkcode initBackend}. */
export interface InitBackendOptions {
  /**
   * The engine, or `"auto"` for the fastest one this machine has, in the
   * order `tensorflow` (tfjs-node-gpu, then tfjs-node), `webgpu` (a hardware
   * adapter only), `wasm`, `cpu`. `"webgpu"` by name also takes a software
   * adapter such as lavapipe.
   *
   * @default {"auto"}
   */
  backend?: EngineName | "auto";
  /**
   * Where to write the line that says which engine was chosen and why the
   * others were passed over; `null` for silence.
   *
   * @default {console.error}
   */
  log?: ((line: string) => void) | null;
  /**
   * Threads for the `wasm` engine. Above 1, XNNPACK's convolutions and
   * matrix multiplies run on a pool of workers, and the process no longer
   * exits by itself: call {@linkcode shutdownBackend} at the end. The tasks
   * default to every core (`navigator.hardwareConcurrency`); the library
   * defaults to 1, so that a script that never calls `shutdownBackend`
   * still exits. Threads spin while they wait, so on a busy machine they
   * can slow work down.
   *
   * @default {1}
   */
  threads?: number;
}

/** What {@linkcode initBackend} chose, for logs and `results.json`. */
export interface BackendInfo {
  /** The engine in use. */
  engine: EngineName;
  /** The tfjs backend name in use (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  tfBackend: string;
  /** Details of the engine (package, adapter, SIMD, threads). */
  detail: string;
  /** Threads of the `wasm` engine; null for the others, which manage their own. */
  threads: number | null;
  /** Why each faster engine was passed over. */
  passedOver: Partial<Record<EngineName, string>>;
  /** The pinned tfjs version. */
  tfjsVersion: string;
}

let current: BackendInfo | null = null;

/**
 * Thrown when an engine that was asked for by name cannot be started. The
 * message says how to get it.
 */
export class EngineUnavailableError extends Error {
  /** Creates the error for `engine`. */
  constructor(engine: EngineName, reason: string, options?: ErrorOptions) {
    super(`Cannot use engine "${engine}": ${reason}\n${HOW_TO_GET[engine]}`, options);
    this.name = "EngineUnavailableError";
  }
}

const HOW_TO_GET: Record<EngineName, string> = {
  tensorflow:
    `To get it, in a project with "nodeModulesDir": "auto" in its deno.json, run \`deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu npm:@tensorflow/tfjs-node-gpu@${TFJS_VERSION}\` ` +
    `(or tfjs-node for CPU only; tfjs-node-gpu needs CUDA 11.8 and cuDNN 8), then run with --allow-ffi. See "Engines" in the README.`,
  webgpu:
    "WebGPU needs a hardware GPU adapter visible to Deno (Vulkan on Linux, Metal on macOS, D3D12 on Windows); \`auto\` passes over software adapters such as llvmpipe because wasm is faster, but --backend webgpu uses them.",
  wasm:
    `Install @tensorflow/tfjs-backend-wasm@${TFJS_VERSION} from npm (deno caches it on first run).`,
  cpu:
    `Install @tensorflow/tfjs-backend-cpu@${TFJS_VERSION} from npm (deno caches it on first run).`,
};

const SOFTWARE_ADAPTERS = /llvmpipe|lavapipe|swiftshader|softpipe|software|microsoft basic render/i;

type Probe = { ok: true; detail: string; threads?: number } | { ok: false; reason: string };

async function tryTensorflow(): Promise<Probe> {
  const reasons: string[] = [];
  for (const [pkg, specifier] of Object.entries(TFJS_NODE_SPECIFIERS)) {
    // Without a built binding the import could only download the package and fail.
    if (!hasNativeBinding(pkg)) {
      reasons.push(`${pkg} is not installed (no node_modules/@tensorflow/${pkg} with its binding)`);
      continue;
    }
    try {
      await import(specifier);
      if (!tf.findBackend("tensorflow")) throw new Error("it did not register a backend");
      if (!(await tf.setBackend("tensorflow"))) throw new Error("the backend failed to start");
      return { ok: true, detail: `@tensorflow/${pkg}@${TFJS_VERSION}` };
    } catch (error) {
      reasons.push(`${pkg} failed to load: ${firstLine(error)}`);
    }
  }
  return { ok: false, reason: reasons.join("; ") };
}

function hasNativeBinding(pkg: string): boolean {
  try {
    const dir = `${Deno.cwd()}/node_modules/@tensorflow/${pkg}/lib`;
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.isDirectory) continue;
      try {
        Deno.statSync(`${dir}/${entry.name}/tfjs_binding.node`);
        return true;
      } catch {
        // Not in this folder; keep looking.
      }
    }
  } catch {
    // No such folder, or no permission to read it: not installed for us.
  }
  return false;
}

async function tryWebGpu(allowSoftware: boolean): Promise<Probe> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { ok: false, reason: "navigator.gpu is not available" };
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (error) {
    return { ok: false, reason: `requestAdapter failed: ${firstLine(error)}` };
  }
  if (!adapter) return { ok: false, reason: "no WebGPU adapter was found" };
  const info = adapter.info;
  const name = [info?.vendor, info?.architecture, info?.device, info?.description]
    .filter((s) => s).join(" ");
  const software = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ||
    SOFTWARE_ADAPTERS.test(name);
  if (software && !allowSoftware) {
    return {
      ok: false,
      reason: `the only adapter is a software renderer (${name || "fallback adapter"})`,
    };
  }
  try {
    await loadWebGpuBackend();
    registerKernelFixes("webgpu");
    if (!(await tf.setBackend("webgpu"))) throw new Error("the backend failed to start");
    explainSyncReads(tf.backend() as unknown as SyncReader);
  } catch (error) {
    return { ok: false, reason: `tfjs-backend-webgpu failed to start: ${firstLine(error)}` };
  }
  return {
    ok: true,
    detail: `adapter ${name || "(unnamed)"}${
      software ? "; a software renderer, slower than wasm" : ""
    }`,
  };
}

/**
 * Runs `f` (the WebGPU probe) with `XDG_RUNTIME_DIR` pointing at a fresh
 * empty folder when it is unset on Linux, then unsets it again. Deno's wgpu
 * asks libwayland for a display, which prints "error: XDG_RUNTIME_DIR is
 * invalid or not set in the environment." on every headless machine; with
 * the variable set it finds no display and says nothing. Without the
 * permissions to read the variable and make the folder, `f` runs as is.
 * (Skipping the probe where Linux has no GPU device would need `/dev`, which
 * Deno lets only `--allow-all` read.)
 */
async function withQuietWayland<T>(f: () => Promise<T>): Promise<T> {
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  if (
    Deno.build.os !== "linux" || !granted({ name: "env", variable: "XDG_RUNTIME_DIR" }) ||
    !granted({ name: "write" }) || Deno.env.get("XDG_RUNTIME_DIR") !== undefined
  ) {
    return await f();
  }
  const dir = await Deno.makeTempDir({ prefix: "saliency-lab-xdg-" });
  Deno.env.set("XDG_RUNTIME_DIR", dir);
  try {
    return await f();
  } finally {
    Deno.env.delete("XDG_RUNTIME_DIR");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

interface SyncReader {
  readSync(dataId: object): unknown;
}

const explained = new WeakSet<SyncReader>();

/**
 * tfjs-backend-webgpu reads a tensor synchronously through a 2D canvas,
 * which Deno lacks, and fails with "Cannot read properties of null (reading
 * 'clearRect')". A read of data still on the CPU works. This wraps the
 * engine's `readSync` so that the failure says what happened and what to do.
 */
function explainSyncReads(backend: SyncReader): void {
  if (explained.has(backend)) return;
  explained.add(backend);
  const original = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    try {
      return original(dataId);
    } catch (error) {
      throw new Error(
        "A synchronous read (dataSync, arraySync) of a tensor on the GPU is not possible on " +
          "the webgpu engine under Deno: read it with `await tensor.data()` or " +
          "`await tensor.array()`, or run with --backend wasm. Every saliency-lab function " +
          "reads asynchronously; the viz functions read tensors synchronously, so pass them " +
          "the values instead.",
        { cause: error },
      );
    }
  };
}

async function tryWasm(threads: number): Promise<Probe> {
  let wasm;
  try {
    wasm = await loadWasmBackend();
    if (threads > 1) await prepareWasmThreads({ threads });
    registerWasmTrainingKernels();
    if (!(await tf.setBackend("wasm"))) throw new Error("the backend failed to start");
  } catch (error) {
    return { ok: false, reason: `tfjs-backend-wasm failed to start: ${firstLine(error)}` };
  }
  const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT");
  const count = tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT") ? wasm.getThreadsCount() : 1;
  return {
    ok: true,
    detail: `${simd ? "SIMD" : "no SIMD"}, ${count} thread${count === 1 ? "" : "s"}`,
    threads: count,
  };
}

async function tryCpu(): Promise<Probe> {
  try {
    await loadCpuBackend();
    registerKernelFixes("cpu");
    if (!(await tf.setBackend("cpu"))) throw new Error("the backend failed to start");
  } catch (error) {
    return { ok: false, reason: `tfjs-backend-cpu failed to start: ${firstLine(error)}` };
  }
  return { ok: true, detail: "plain JavaScript kernels (slow for training)" };
}

function probe(engine: EngineName, threads: number, named: boolean): Promise<Probe> {
  switch (engine) {
    case "tensorflow":
      return tryTensorflow();
    case "webgpu":
      // Asked for by name, a software adapter is used (tests run on lavapipe);
      // `auto` passes it over for wasm, which is faster.
      return withQuietWayland(() => tryWebGpu(named));
    case "wasm":
      return tryWasm(threads);
    case "cpu":
      return tryCpu();
  }
}

/**
 * Chooses the compute engine, starts it, and returns its name.
 *
 * With `backend: "auto"` it takes the first engine that starts, in the order
 * `tensorflow`, `webgpu`, `wasm`, `cpu`, and logs one line that names the
 * engine and why each faster one was passed over. An engine asked for by
 * name that cannot start throws {@linkcode EngineUnavailableError}, whose
 * message says how to get it. On `wasm` it also registers the training
 * kernels the engine lacks, and on every engine the second-order gradients
 * tfjs lacks.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { ENGINES, initBackend } from "./init_backend.ts";
 * // "auto" would probe the faster engines first; the examples name wasm so
 * // that the test process never loads a WebGPU driver (see initBackend's tests).
 * const engine = await initBackend({ backend: "wasm", log: null });
 * assert.ok(ENGINES.includes(engine));
 * assert.equal(await initBackend({ backend: "auto", log: null }), engine); // started once, then reused
 * ```
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<EngineName> {
  const requested = options.backend ?? "auto";
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`Option "threads" must be a whole number of at least 1, got ${threads}`);
  }
  const log = options.log === undefined ? (line: string) => console.error(line) : options.log;
  if (requested !== "auto" && !(ENGINES as readonly string[]).includes(requested)) {
    throw new TypeError(
      `Cannot use engine "${requested}": expected one of auto, ${ENGINES.join(", ")}`,
    );
  }
  if (current && (requested === "auto" || requested === current.engine)) {
    if (tf.getBackend() !== current.tfBackend) await tf.setBackend(current.tfBackend);
    return current.engine;
  }
  // Gradients of gradients (RRR, GAIN, a differentiable Grad-CAM) on every engine.
  registerSecondOrderGradients();
  const candidates = requested === "auto" ? ENGINES : [requested];
  const passedOver: Partial<Record<EngineName, string>> = {};
  for (const engine of candidates) {
    const result = await probe(engine, threads, requested !== "auto");
    if (!result.ok) {
      if (requested !== "auto") throw new EngineUnavailableError(engine, result.reason);
      passedOver[engine] = result.reason;
      continue;
    }
    await tf.ready();
    current = {
      engine,
      tfBackend: tf.getBackend(),
      detail: result.detail,
      threads: result.threads ?? null,
      passedOver,
      tfjsVersion: TFJS_VERSION,
    };
    log?.(describeBackend(current));
    return engine;
  }
  throw new EngineUnavailableError("cpu", Object.values(passedOver).join("; "));
}

/**
 * Stops the engine's worker threads, if any, so that the process can exit.
 * Tensors of the `wasm` engine are invalid afterwards; a later
 * {@linkcode initBackend} starts the engine again.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { backendInfo, initBackend, shutdownBackend } from "./init_backend.ts";
 * await initBackend({ backend: "wasm", threads: 2, log: null });
 * // … work …
 * await shutdownBackend();
 * assert.equal(backendInfo(), null); // a later initBackend starts the engine again
 * ```
 */
export async function shutdownBackend(): Promise<void> {
  if (current?.engine === "wasm" && (current.threads ?? 1) > 1) {
    await shutdownWasmThreads();
    current = null;
  }
}

/**
 * What the last {@linkcode initBackend} call chose, or `null` before it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { backendInfo, initBackend } from "./init_backend.ts";
 * assert.equal(backendInfo(), null); // before the first call
 * const engine = await initBackend({ backend: "wasm", log: null });
 * assert.equal(backendInfo()?.engine, engine);
 * ```
 */
export function backendInfo(): BackendInfo | null {
  return current ? { ...current, passedOver: { ...current.passedOver } } : null;
}

function describeBackend(info: BackendInfo): string {
  const skipped = Object.entries(info.passedOver).map(([k, v]) => `${k}: ${v}`);
  return `engine: ${info.engine} (${info.detail})` +
    (skipped.length ? `; passed over ${skipped.join("; ")}` : "");
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0];
}
