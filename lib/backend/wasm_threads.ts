/**
 * Runs the tfjs `wasm` engine on several threads under plain `deno run`.
 *
 * Under Deno, `@tensorflow/tfjs-backend-wasm@4.22.0` loads its Node build:
 * `process` exists, so the engine reports no multithread support, and its
 * Emscripten glue would start Node `worker_threads` workers from a script
 * that only works inside the Node bundle. {@linkcode prepareWasmThreads}
 * works around all of it without touching `node_modules`:
 *
 * - it makes the global `Worker` a getter whose setter ignores the glue's
 *   overwrite, and turns the glue's one-argument `new Worker(blobUrl)` into a
 *   module web Worker running our own `_wasm_thread_worker.ts`, wrapped in
 *   the few Node-style methods the glue calls (`on`, `ref`, `unref`,
 *   `postMessage`, `terminate`);
 * - it sets the `WASM_HAS_MULTITHREAD_SUPPORT` flag, so the threaded SIMD
 *   build is loaded, and calls the package's `setThreadsCount`;
 * - it registers the engine's factory again, wrapped so that while the
 *   engine starts the core count that `node:os` reports is at least twice
 *   the thread count: the engine allows at most half of the logical cores.
 *
 * The shim depends on this exact tfjs and Emscripten version; its test runs
 * the engine with and without threads and compares the results.
 *
 * @module
 */
import os from "node:os";
import { loadWasmBackend, tf } from "../deps.ts";

/** Options for {@linkcode prepareWasmThreads}. */
export interface WasmThreadsOptions {
  /**
   * How many threads XNNPACK's pool uses, counting the thread that calls
   * tfjs. An integer of at least 1; with 1 the single-threaded SIMD build is
   * used and no worker is started.
   */
  threads: number;
}

/** The one-argument Node-style worker the glue constructs and drives. */
type NodeStyleListener = (value: unknown) => void;

const WORKER_URL = new URL("./_wasm_thread_worker.ts", import.meta.url);
const FLAG = "WASM_HAS_MULTITHREAD_SUPPORT";

/**
 * Stands in for a Node `worker_threads` Worker: a module web Worker running
 * our pthread script, with the methods and fields the glue uses.
 */
class PthreadWorker {
  #worker: Worker;
  // Fields the glue reads and writes on its workers.
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  loaded = false;
  pthread_ptr = 0;
  runPthread?: () => void;

  constructor(NativeWorker: typeof Worker) {
    this.#worker = new NativeWorker(WORKER_URL, { type: "module", name: "tfjs-wasm-thread" });
    workers.add(this);
  }

  /** Node's `worker.on(event, listener)` for `message` and `error`. */
  on(event: string, listener: NodeStyleListener): this {
    if (event === "message") {
      this.#worker.addEventListener("message", (e) => listener(e.data));
    } else if (event === "error") {
      this.#worker.addEventListener("error", (e) => {
        // The glue's listener logs and rethrows, which ends the process.
        e.preventDefault();
        listener(e.error ?? new Error(e.message));
      });
    }
    // "detachedExit", "exit" and "online" have no web Worker counterpart.
    return this;
  }

  /** Node's `worker.postMessage(message, transferList)`. */
  postMessage(message: unknown, transfer: Transferable[] = []): void {
    this.#worker.postMessage(message, transfer);
  }

  /**
   * Node's `worker.ref()`. A Deno web Worker always keeps the process alive,
   * so this and {@linkcode PthreadWorker.unref} do nothing; see
   * {@linkcode shutdownWasmThreads}.
   */
  ref(): void {}

  /** Node's `worker.unref()`; does nothing (see `ref`). */
  unref(): void {}

  /** Node's `worker.terminate()`. */
  terminate(): Promise<number> {
    this.#worker.terminate();
    workers.delete(this);
    return Promise.resolve(0);
  }
}

/** Every pthread worker started and not yet terminated. */
const workers = new Set<PthreadWorker>();

interface Installed {
  threads: number;
  workerDescriptor: PropertyDescriptor | undefined;
  originalFactory: () => tf.KernelBackend | Promise<tf.KernelBackend>;
  priority: number;
}

let installed: Installed | null = null;

/**
 * Prepares the `wasm` engine to run on `threads` threads. Call it after the
 * wasm engine module is imported (`loadWasmBackend()`) and before
 * `tf.setBackend("wasm")`; it throws if the engine has already started.
 * Calling it again before the engine starts changes the thread count.
 *
 * With `threads` above 1 the engine's glue starts at least 8 workers whatever
 * the count (on a 2-core machine about 0.1–0.15 s and 70 MiB more at start-up);
 * `getThreadsCount()` of the wasm package reports the count the engine
 * settled on. Only XNNPACK's kernels (convolutions, matrix multiplies) use
 * the threads, and waiting threads spin before they sleep: a training step
 * of the reference net used 1.28 CPU-seconds per second on 2 threads against
 * 1.03 on 1, and on a machine that is already busy 2 threads are slower than
 * 1. **The workers keep the process alive**: it does not exit by itself once
 * its work is done. Call {@linkcode shutdownWasmThreads} (or `Deno.exit()`)
 * at the end. If a worker fails to start, its error ends the process.
 *
 * This relies on the internals of `@tensorflow/tfjs-backend-wasm@4.22.0`
 * and its Emscripten glue. It needs no permission beyond what the
 * single-threaded engine needs (`--allow-read`; `--allow-import` for the
 * worker script's host when imported by URL).
 *
 * @example Train on two threads
 * ```ts
 * import assert from "node:assert";
 * import { loadWasmBackend, tf } from "../deps.ts";
 * import { prepareWasmThreads, shutdownWasmThreads } from "./wasm_threads.ts";
 * const wasm = await loadWasmBackend();
 * await prepareWasmThreads({ threads: 2 });
 * await tf.setBackend("wasm");
 * assert.equal(wasm.getThreadsCount(), 2);
 * const y = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]));
 * assert.equal(y.max().dataSync()[0], 64);
 * y.dispose();
 * await shutdownWasmThreads(); // lets the process exit
 * ```
 */
export async function prepareWasmThreads(options: WasmThreadsOptions): Promise<void> {
  const threads = options?.threads;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(
      `Cannot prepare wasm threads: expected "threads" to be an integer of at least 1, got ${threads}`,
    );
  }
  const wasm = await loadWasmBackend();
  const engine = tf.engine();
  if ("wasm" in engine.registry || engine.backendName === "wasm") {
    throw new Error(
      'Cannot prepare wasm threads: the wasm engine has already started; call prepareWasmThreads() before tf.setBackend("wasm")',
    );
  }
  if (threads === 1) {
    uninstall();
    tf.env().set(FLAG, false);
    wasm.setThreadsCount(1);
    return;
  }
  const missing = missingThreadSupport();
  if (missing) throw new Error(`Cannot prepare wasm threads: ${missing}`);
  if (installed) {
    installed.threads = threads;
  } else {
    installed = install(threads);
  }
  tf.env().set(FLAG, true);
  wasm.setThreadsCount(threads);
}

/**
 * Ends the `wasm` engine's threads so that the process can exit. It removes
 * the `wasm` backend (every tensor on it becomes invalid; if it was active,
 * tfjs picks another engine for the next op), terminates the workers, and
 * puts the global `Worker` and the engine's factory back as they were, so
 * that a later `tf.setBackend("wasm")` starts the single-threaded engine (or
 * call {@linkcode prepareWasmThreads} again first). Without threads
 * prepared it does nothing.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadWasmBackend, tf } from "../deps.ts";
 * import { prepareWasmThreads, shutdownWasmThreads } from "./wasm_threads.ts";
 * const wasm = await loadWasmBackend();
 * await prepareWasmThreads({ threads: 2 });
 * await tf.setBackend("wasm");
 * await shutdownWasmThreads();
 * await tf.setBackend("wasm"); // the single-threaded engine
 * assert.equal(wasm.getThreadsCount(), 1);
 * await shutdownWasmThreads(); // no threads prepared: does nothing
 * ```
 */
export async function shutdownWasmThreads(): Promise<void> {
  if (!installed) return;
  const engine = tf.engine();
  if ("wasm" in engine.registryFactory) tf.removeBackend("wasm");
  // The glue terminates its workers in BackendWasm.dispose(); end any left.
  await Promise.all([...workers].map((worker) => worker.terminate()));
  uninstall();
  tf.env().set(FLAG, false);
}

/** Why this runtime cannot run wasm threads, or `null` if it can. */
function missingThreadSupport(): string | null {
  if (typeof SharedArrayBuffer !== "function") return "SharedArrayBuffer is not available";
  if (typeof Worker !== "function") return "Worker is not available";
  try {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    if (!(memory.buffer instanceof SharedArrayBuffer)) {
      return "shared WebAssembly memory is not backed by a SharedArrayBuffer";
    }
  } catch (error) {
    return `shared WebAssembly memory is not supported (${error})`;
  }
  return null;
}

function install(threads: number): Installed {
  const entry = tf.engine().registryFactory["wasm"];
  if (!entry) {
    throw new Error("Cannot prepare wasm threads: the wasm engine is not registered with tfjs");
  }
  const state: Installed = {
    threads,
    workerDescriptor: Object.getOwnPropertyDescriptor(globalThis, "Worker"),
    originalFactory: entry.factory,
    priority: entry.priority,
  };
  const NativeWorker = globalThis.Worker;
  // A one-argument construction from a blob: URL is the glue asking for a
  // pthread; anything else is an ordinary web Worker.
  const shim = function (specifier: string | URL, options?: WorkerOptions) {
    if (options === undefined && typeof specifier === "string" && specifier.startsWith("blob:")) {
      // The blob holds the package's Node worker script, which we replace.
      URL.revokeObjectURL(specifier);
      return new PthreadWorker(NativeWorker);
    }
    return new NativeWorker(specifier, options);
  };
  // Native workers it returns still pass `instanceof Worker`.
  shim.prototype = NativeWorker.prototype;
  const WorkerShim = shim as unknown as typeof Worker;
  Object.defineProperty(globalThis, "Worker", {
    configurable: true,
    enumerable: false,
    get: () => WorkerShim,
    // The glue assigns Node's worker_threads Worker here; keep ours.
    set: () => {},
  });
  // The engine caps its pool at half of the logical cores it sees, and in
  // Node mode it counts os.cpus(). Raise that count while the engine starts.
  const original = state.originalFactory;
  tf.removeBackend("wasm");
  tf.registerBackend("wasm", async () => {
    const cpus = os.cpus;
    const wanted = 2 * state.threads;
    os.cpus = () => padCpus(cpus, wanted);
    try {
      return await original();
    } finally {
      os.cpus = cpus;
    }
  }, state.priority);
  return state;
}

function uninstall(): void {
  if (!installed) return;
  if (installed.workerDescriptor) {
    Object.defineProperty(globalThis, "Worker", installed.workerDescriptor);
  } else {
    delete (globalThis as { Worker?: unknown }).Worker;
  }
  if ("wasm" in tf.engine().registryFactory) tf.removeBackend("wasm");
  tf.registerBackend("wasm", installed.originalFactory, installed.priority);
  installed = null;
}

/**
 * `cpus()`'s list, repeated up to `count` entries. Without permission to
 * read it (`--allow-sys=cpus`), placeholder entries: only the length counts.
 */
function padCpus(cpus: () => os.CpuInfo[], count: number): os.CpuInfo[] {
  let list: os.CpuInfo[] = [];
  try {
    list = cpus();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
  }
  if (list.length >= count) return list;
  const filler: os.CpuInfo = list.at(-1) ??
    { model: "unknown", speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } };
  return Array.from({ length: count }, (_, i) => list[i] ?? filler);
}
