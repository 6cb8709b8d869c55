/**
 * The script that every thread of the multithreaded `wasm` engine runs in.
 * {@linkcode prepareWasmThreads} in `wasm_threads.ts` starts it as a module
 * web Worker in place of the Node `worker_threads` worker that the Emscripten
 * glue of `@tensorflow/tfjs-backend-wasm@4.22.0` asks for.
 *
 * It speaks the glue's pthread message protocol:
 *
 * - `load` carries the shared memory, the compiled module and the glue source
 *   (a Blob). The glue is evaluated with the names it uses to detect Node
 *   hidden, so that it takes its web-worker branch, then instantiated as a
 *   pthread; when it is ready the worker answers `loaded`.
 * - `run` starts a thread's entry point on this worker.
 * - `cancel` exits the running thread.
 * - `processProxyingQueue` runs work that another thread queued for this one.
 *
 * Messages that arrive while `load` is still reading the glue wait for it.
 * Any failure is rethrown, so the worker dies and the page that started it
 * sees an `error` event.
 *
 * Nothing in the library imports this file; it is only ever started as a
 * Worker.
 *
 * @module
 */

/** The name the glue's Blob binds the module factory to. */
const FACTORY_NAME = "WasmBackendModuleThreadedSimd";

/**
 * Names the glue probes to decide it runs under Node (`process`, `require`,
 * `module`) or that only exist in a CommonJS bundle. They are shadowed by
 * `undefined` parameters when the glue is evaluated.
 */
const HIDDEN_NAMES = [
  "process",
  "require",
  "module",
  "exports",
  "global",
  "__filename",
  "__dirname",
  "_scriptDir",
  "commonjsGlobal",
] as const;

/** The parts of the instantiated glue module that a pthread calls. */
interface PthreadModule {
  __emscripten_thread_init(
    thread: number,
    isMainThread: number,
    isMainRuntimeThread: number,
    canBlock: number,
  ): void;
  __emscripten_thread_exit(status: number): void;
  __emscripten_thread_crashed?: () => void;
  _pthread_self(): number;
  establishStackSpace(): void;
  executeNotifiedProxyingQueue(queue: number): void;
  invokeEntryPoint(startRoutine: number, arg: number): void;
  keepRuntimeAlive(): boolean;
  ExitStatus: new (status: number) => { status: number };
  PThread: {
    receiveObjectTransfer(data: unknown): void;
    threadInitTLS(): void;
  };
}

interface LoadMessage {
  cmd: "load";
  handlers: string[];
  urlOrBlob: Blob | string;
  wasmMemory: WebAssembly.Memory;
  wasmModule: WebAssembly.Module;
}

interface RunMessage {
  cmd: "run";
  pthread_ptr: number;
  start_routine: number;
  arg: number;
}

interface PthreadMessage {
  cmd?: string;
  target?: string;
  queue?: number;
}

/** The worker global scope, typed by the little this script uses. */
interface WorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

type GlueFactory = (config: Record<string, unknown>) => Promise<unknown>;

type GlueWrapper = (...args: unknown[]) => unknown;

const scope = globalThis as unknown as WorkerScope;

/** The instantiated glue, once `load` has finished. */
let instance: PthreadModule | null = null;
/** Messages that arrived before `load` finished, in order. */
const waiting: PthreadMessage[] = [];
/** True once the first `run` has initialised the thread's JavaScript side. */
let threadStarted = false;
/** Proxying queues notified before the first `run`. */
const earlyQueues: number[] = [];

scope.onmessage = (event: MessageEvent) => {
  const data = event.data as PthreadMessage;
  if (data.cmd === "load") {
    load(data as unknown as LoadMessage).catch((error) => {
      // Rethrown outside the promise so the worker fails with the real error.
      setTimeout(() => {
        throw error;
      });
    });
  } else if (instance === null) {
    waiting.push(data);
  } else {
    handle(instance, data);
  }
};

async function load(message: LoadMessage): Promise<void> {
  const source = typeof message.urlOrBlob === "string"
    ? await (await fetch(message.urlOrBlob)).text()
    : await message.urlOrBlob.text();
  const factory = evaluateGlue(source);
  const config: Record<string, unknown> = {
    ENVIRONMENT_IS_PTHREAD: true,
    wasmMemory: message.wasmMemory,
    buffer: message.wasmMemory.buffer,
    wasmModule: message.wasmModule,
    instantiateWasm(
      imports: WebAssembly.Imports,
      receiveInstance: (instance: WebAssembly.Instance) => void,
    ): WebAssembly.Exports {
      const wasmInstance = new WebAssembly.Instance(message.wasmModule, imports);
      receiveInstance(wasmInstance);
      config.wasmModule = null;
      return wasmInstance.exports;
    },
  };
  // Handlers given on the main thread (print, onAbort, …) run there.
  for (const handler of message.handlers) {
    config[handler] = (...args: unknown[]) =>
      scope.postMessage({ cmd: "callHandler", handler, args });
  }
  // A pthread's run() calls startWorker() synchronously once instantiated.
  await factory(config);
  if (instance === null) {
    throw new Error(
      `Cannot start a wasm thread: the glue's ${FACTORY_NAME}() resolved without calling startWorker()`,
    );
  }
}

function evaluateGlue(source: string): GlueFactory {
  // The glue reaches these free names only in its worker branch; each gets
  // a stand-in so that the branch can be detected and runs.
  const importScripts = () => {
    throw new Error("importScripts() is not available in a wasm thread worker");
  };
  const startWorker = (module: PthreadModule) => {
    instance = module;
    scope.postMessage({ cmd: "loaded" });
    for (const data of waiting.splice(0)) handle(module, data);
  };
  let wrapper: GlueWrapper;
  try {
    wrapper = new Function(
      ...HIDDEN_NAMES,
      "importScripts",
      "startWorker",
      `${source}\nreturn typeof ${FACTORY_NAME} === "function" ? ${FACTORY_NAME} : undefined;`,
    ) as GlueWrapper;
  } catch (error) {
    throw new Error("Cannot start a wasm thread: the glue source does not parse", {
      cause: error,
    });
  }
  const factory = wrapper(...HIDDEN_NAMES.map(() => undefined), importScripts, startWorker);
  if (typeof factory !== "function") {
    throw new Error(
      `Cannot start a wasm thread: the glue source does not define ${FACTORY_NAME}()`,
    );
  }
  return factory as GlueFactory;
}

function handle(module: PthreadModule, data: PthreadMessage): void {
  try {
    if (data.cmd === "run") {
      run(module, data as unknown as RunMessage);
    } else if (data.cmd === "cancel") {
      if (module._pthread_self()) module.__emscripten_thread_exit(-1);
    } else if (data.target === "setimmediate") {
      // The glue's setImmediate polyfill; nothing to do here.
    } else if (data.cmd === "processProxyingQueue") {
      if (threadStarted) module.executeNotifiedProxyingQueue(data.queue!);
      else earlyQueues.push(data.queue!);
    } else if (data.cmd) {
      console.error(`wasm thread worker: unknown command "${data.cmd}"`, data);
    }
  } catch (error) {
    module.__emscripten_thread_crashed?.();
    throw error;
  }
}

function run(module: PthreadModule, message: RunMessage): void {
  module.__emscripten_thread_init(message.pthread_ptr, 0, 0, 1);
  module.establishStackSpace();
  module.PThread.receiveObjectTransfer(message);
  module.PThread.threadInitTLS();
  if (!threadStarted) {
    threadStarted = true;
    for (const queue of earlyQueues.splice(0)) module.executeNotifiedProxyingQueue(queue);
  }
  try {
    module.invokeEntryPoint(message.start_routine, message.arg);
  } catch (error) {
    // "unwind" is how Emscripten leaves a thread that keeps running.
    if (error === "unwind") return;
    if (!(error instanceof module.ExitStatus)) throw error;
    if (!module.keepRuntimeAlive()) module.__emscripten_thread_exit(error.status);
  }
}
