// A safe reader for the pickles inside PyTorch checkpoints (data.pkl), written
// from the opcode list of Python's pickletools. It never runs anything: it
// knows the few globals torch.save writes for a state dict of tensors and
// builds plain values for them; any other global is refused where it first
// appears, before any call. Private to lib/io/.
import { DataError } from "../data/errors.ts";
import type { StoredDtype } from "./stored_tensor.ts";

/** A storage named by a persistent id: the zip entry `data/<key>`. */
export interface StorageRef {
  /** Discriminant. */
  kind: "storage";
  /** The element type of the storage class (`torch.FloatStorage` is float32). */
  dtype: StoredDtype;
  /** The entry's name under `data/`. */
  key: string;
  /** The number of elements. */
  numel: number;
}

/** A tensor: a strided view on a storage. */
export interface TensorRef {
  /** Discriminant. */
  kind: "tensor";
  /** The storage it views. */
  storage: StorageRef;
  /** The first element's index in the storage. */
  offset: number;
  /** The shape. */
  shape: number[];
  /** The stride of each dimension, in elements. */
  stride: number[];
}

/** A permitted global, as a value: a storage class or a type passed as an argument. */
class Global {
  constructor(readonly name: string) {}
}

const STORAGES: Readonly<Record<string, StoredDtype>> = {
  "torch.FloatStorage": "float32",
  "torch.HalfStorage": "float16",
  "torch.BFloat16Storage": "bfloat16",
  "torch.DoubleStorage": "float64",
  "torch.LongStorage": "int64",
  "torch.IntStorage": "int32",
  "torch.ShortStorage": "int16",
  "torch.CharStorage": "int8",
  "torch.ByteStorage": "uint8",
  "torch.BoolStorage": "bool",
};

type Call = (args: unknown[]) => unknown;

function int(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new TypeError(`${what} is not an integer`);
  }
  return value;
}

function ints(value: unknown, what: string): number[] {
  if (!Array.isArray(value)) throw new TypeError(`${what} is not a tuple`);
  return value.map((v, i) => int(v, `${what}[${i}]`));
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, shape, stride] = args;
  if (!(storage && (storage as StorageRef).kind === "storage")) {
    throw new TypeError("_rebuild_tensor_v2 got no storage");
  }
  return {
    kind: "tensor",
    storage: storage as StorageRef,
    offset: int(offset, "storage_offset"),
    shape: ints(shape, "size"),
    stride: ints(stride, "stride"),
  };
}

/** The callable globals, with what calling each means here. */
const CALLS: Readonly<Record<string, Call>> = {
  "collections.OrderedDict": (args) =>
    new Map(args.length ? (args[0] as [unknown, unknown][]) : []),
  "torch._utils._rebuild_tensor_v2": rebuildTensor,
  "torch._utils._rebuild_tensor": rebuildTensor,
  // A Parameter is its data; requires_grad and hooks mean nothing here.
  "torch._utils._rebuild_parameter": (args) => args[0],
  "torch._utils._rebuild_parameter_with_state": (args) => args[0],
  // (func, type, args, state): a plain Tensor or Parameter rebuilt by func.
  "torch._tensor._rebuild_from_type_v2": (args) => {
    const [func, type, inner] = args;
    if (!(func instanceof Global) || !CALLS[func.name]) {
      throw new TypeError("_rebuild_from_type_v2 got no rebuild function");
    }
    if (!(type instanceof Global) || !VALUES.has(type.name)) {
      throw new TypeError("_rebuild_from_type_v2 got a tensor subclass");
    }
    return CALLS[func.name](inner as unknown[]);
  },
};

/** The globals that may appear as values (never called). */
const VALUES = new Set(["torch.Tensor", "torch.nn.parameter.Parameter", ...Object.keys(STORAGES)]);

const MARK = Symbol("mark");

/**
 * Reads the pickle `bytes` (protocols 2 to 5, no out-of-band buffers) to
 * plain values: dicts as `Map`, tuples and lists as arrays, tensors as
 * {@linkcode TensorRef}. `file` and `entry` name it in errors.
 */
export function readPickle(bytes: Uint8Array, file: string, entry: string): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let at = 0;
  let opcode = 0;
  let opcodeAt = 0;

  const fail = (reason: string): never => {
    throw new DataError(`${entry}: ${reason}`, { file });
  };
  const need = (n: number) => {
    if (at + n > bytes.length) fail(`the pickle is truncated at byte ${at}`);
  };
  const u8 = () => (need(1), bytes[at++]);
  const u16 = () => (need(2), at += 2, view.getUint16(at - 2, true));
  const u32 = () => (need(4), at += 4, view.getUint32(at - 4, true));
  const u64 = () => (need(8), at += 8, Number(view.getBigUint64(at - 8, true)));
  const take = (n: number) => (need(n), at += n, bytes.subarray(at - n, at));
  const text = (n: number) => utf8.decode(take(n));
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail(`the pickle is truncated at byte ${at}`);
    const s = utf8.decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const pop = () => {
    if (!stack.length || stack[stack.length - 1] === MARK) {
      fail(`opcode 0x${opcode.toString(16)} at byte ${opcodeAt} found an empty stack`);
    }
    return stack.pop();
  };
  const popMark = () => {
    const start = marks.pop();
    if (start === undefined) {
      fail(`opcode 0x${opcode.toString(16)} at byte ${opcodeAt} has no mark`);
    }
    const items = stack.splice(start!);
    items.shift();
    return items;
  };
  const top = () => {
    if (!stack.length) {
      fail(`opcode 0x${opcode.toString(16)} at byte ${opcodeAt} found an empty stack`);
    }
    return stack[stack.length - 1];
  };
  const global = (module: string, name: string) => {
    const full = `${module}.${name}`;
    if (!CALLS[full] && !VALUES.has(full)) {
      fail(
        `the pickle needs the global "${full}", which a state dict of tensors never uses; ` +
          `it was refused and nothing was run (save model.state_dict(), not the model or other objects)`,
      );
    }
    return new Global(full);
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail(`SETITEM(S) at byte ${opcodeAt} on a non-dict`);
    for (let i = 0; i + 1 < items.length; i += 2) {
      (dict as Map<unknown, unknown>).set(items[i], items[i + 1]);
    }
  };
  const append = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list)) fail(`APPEND(S) at byte ${opcodeAt} on a non-list`);
    (list as unknown[]).push(...items);
  };
  const long = (n: number) => {
    if (n === 0) return 0;
    const raw = take(n);
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]);
    if (raw[n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  };

  for (;;) {
    opcodeAt = at;
    opcode = u8();
    switch (opcode) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: { // STOP
        const result = pop();
        return result;
      }
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(at, true));
        at += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(long(u8()));
        break;
      case 0x8b: // LONG4
        stack.push(long(u32()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x54: // BINSTRING
        stack.push(text(u32()));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(text(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x64: { // DICT
        const dict = new Map();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x73: { // SETITEM
        const value = pop(), key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: { // APPEND
        const value = pop();
        append(top(), [value]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) fail(`ADDITEMS at byte ${opcodeAt} on a non-set`);
        for (const item of items) (set as Set<unknown>).add(item);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const index = opcode === 0x68 ? u8() : u32();
        if (!memo.has(index)) fail(`memo entry ${index} at byte ${opcodeAt} was never stored`);
        stack.push(memo.get(index));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          fail(`STACK_GLOBAL at byte ${opcodeAt} without two strings`);
        }
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: // REDUCE
      case 0x81: { // NEWOBJ
        const args = pop(), callable = pop();
        const name = callable instanceof Global ? callable.name : typeof callable;
        const call = callable instanceof Global ? CALLS[callable.name] : undefined;
        if (!call || !Array.isArray(args)) fail(`cannot call "${name}" at byte ${opcodeAt}`);
        try {
          stack.push(call!(args as unknown[]));
        } catch (error) {
          fail(`calling "${name}" at byte ${opcodeAt}: ${(error as Error).message}`);
        }
        break;
      }
      case 0x62: { // BUILD
        pop(); // The state: an OrderedDict's attributes (`_metadata`), or a tensor's.
        const target = top();
        if (!(target instanceof Map) && (target as TensorRef)?.kind !== "tensor") {
          fail(`BUILD at byte ${opcodeAt} on a ${typeof target}`);
        }
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (
          !Array.isArray(pid) || pid[0] !== "storage" || !(pid[1] instanceof Global) ||
          !STORAGES[pid[1].name] || typeof pid[2] !== "string"
        ) {
          fail(`persistent id at byte ${opcodeAt} is not a storage: ${String(pid)}`);
        }
        const [, type, key, , numel] = pid as [string, Global, string, string, unknown];
        stack.push(
          {
            kind: "storage",
            dtype: STORAGES[type.name],
            key,
            numel: typeof numel === "number" ? numel : -1,
          } satisfies StorageRef,
        );
        break;
      }
      default:
        fail(
          `opcode 0x${opcode.toString(16)} at byte ${opcodeAt} is not read ` +
            `(it does not occur in a torch.save state dict)`,
        );
    }
  }
}
