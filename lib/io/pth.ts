/**
 * Reading PyTorch state dicts saved by `torch.save` (`.pth`, `.pt`, `.bin`)
 * in its zip format (PyTorch 1.6 and later): `<archive>/data.pkl`, a pickle
 * of the dict whose tensors point at storages `<archive>/data/<key>`.
 *
 * The pickle is read by a reader of our own that never runs code: it knows
 * only the globals `torch.save` writes for a dict of tensors
 * (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
 * `torch._utils._rebuild_parameter`, the `torch.*Storage` classes) and
 * refuses any other, naming it. A file that pickles a whole model, or
 * anything else, is therefore refused; save `model.state_dict()`.
 *
 * @module
 */
import { DataError } from "../data/errors.ts";
import { readWholeFile } from "../util/fs.ts";
import { ITEM_SIZE, toFloat32 } from "./_decode.ts";
import { readPickle, type StorageRef, type TensorRef } from "./_pickle.ts";
import { isZip, readZipDirectory, zipEntryBytes } from "./_zip.ts";
import { shapeSize, type StoredTensor } from "./stored_tensor.ts";

/** The checkpoint keys under which a state dict is looked for, in order. */
const WRAPPERS = ["state_dict", "model_state_dict", "model"] as const;

/** The tensors of a PyTorch checkpoint. */
export interface PthContents {
  /** The state dict's tensors by key, in stored order, as float32. */
  tensors: Map<string, StoredTensor>;
  /**
   * The checkpoint key the state dict was under (`"state_dict"`,
   * `"model_state_dict"` or `"model"`), or `undefined` when the file is the
   * state dict itself.
   */
  wrapper?: string;
}

/** Options of {@linkcode parsePth}. */
export interface ParsePthOptions {
  /** A name for error messages (the file path). @default {"<bytes>"} */
  name?: string;
}

/**
 * Parses the bytes of a `torch.save` file into float32 tensors by key. The
 * file holds a state dict, or a checkpoint dict with one under
 * `state_dict`, `model_state_dict` or `model` (the first found is read; the
 * other entries, such as an optimizer's state, are passed over).
 *
 * Storages of float32, float16, bfloat16, float64, int64, int32, int16,
 * int8, uint8 and bool are read, and views on them with any offset and
 * strides (a transposed or sliced tensor saved as it is). A contiguous
 * float32 tensor is a view on `bytes`, not a copy; tensors that share a
 * storage share memory.
 *
 * Throws a {@linkcode DataError} naming the file (and the tensor) for the
 * legacy pre-1.6 format ("re-save with
 * `torch.save(obj, path, _use_new_zipfile_serialization=True)`"), a
 * TorchScript archive, a truncated file, a pickle that needs any other
 * global (nothing of it is run), and an entry that is not a tensor.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePth } from "./pth.ts";
 * await assert.rejects(
 *   parsePth(new Uint8Array([0x80, 0x02, 0x8a, 0x0a]), { name: "old.pth" }),
 *   /old\.pth: .*legacy.*_use_new_zipfile_serialization=True/,
 * );
 * ```
 */
export async function parsePth(
  bytes: Uint8Array,
  options: ParsePthOptions = {},
): Promise<PthContents> {
  const file = options.name ?? "<bytes>";
  if (!isZip(bytes)) {
    const legacy = bytes[0] === 0x80 ||
      new TextDecoder().decode(bytes.subarray(257, 262)) === "ustar";
    throw new DataError(
      legacy
        ? "the file is in PyTorch's legacy (pre-1.6) format, which is not read; re-save it " +
          "with torch.save(obj, path, _use_new_zipfile_serialization=True)"
        : "not a PyTorch zip checkpoint (it does not start with a zip header)",
      { file },
    );
  }
  const entries = readZipDirectory(bytes, file);
  const names = [...entries.keys()];
  const pickleName = names.find((n) => /^([^/]+\/)?data\.pkl$/.test(n));
  const script = names.some((n) => /^([^/]+\/)?(constants\.pkl$|code\/)/.test(n));
  if (!pickleName || script) {
    throw new DataError(
      script
        ? "the file is a TorchScript archive (torch.jit.save), not a state dict; save " +
          "model.state_dict() with torch.save"
        : "the zip archive has no data.pkl; it was not written by torch.save",
      { file },
    );
  }
  const prefix = pickleName.slice(0, -"data.pkl".length);
  const order = entries.get(`${prefix}byteorder`);
  if (order) {
    const text = new TextDecoder().decode(await zipEntryBytes(bytes, order, file)).trim();
    if (text !== "little") {
      throw new DataError(`the checkpoint is ${text}-endian; only little-endian ones are read`, {
        file,
      });
    }
  }
  const root = readPickle(
    await zipEntryBytes(bytes, entries.get(pickleName)!, file),
    file,
    pickleName,
  );
  const { dict, wrapper } = stateDict(root, file);
  const storages = new Map<string, Float32Array>();
  const storage = async (ref: StorageRef, key: string): Promise<Float32Array> => {
    const cached = storages.get(ref.key);
    if (cached) return cached;
    const entry = entries.get(`${prefix}data/${ref.key}`);
    if (!entry) {
      throw new DataError(`tensor "${key}": its storage data/${ref.key} is not in the archive`, {
        file,
      });
    }
    const raw = await zipEntryBytes(bytes, entry, file);
    const size = ITEM_SIZE[ref.dtype];
    if (raw.length % size !== 0 || (ref.numel >= 0 && raw.length < ref.numel * size)) {
      throw new DataError(
        `tensor "${key}": storage data/${ref.key} has ${raw.length} bytes, expected ` +
          `${ref.numel} ${ref.dtype} elements (${ref.numel * size} bytes); the file is damaged`,
        { file },
      );
    }
    const values = toFloat32(raw, ref.dtype);
    storages.set(ref.key, values);
    return values;
  };
  const tensors = new Map<string, StoredTensor>();
  for (const [key, value] of dict) {
    if (typeof key !== "string") {
      throw new DataError(`the state dict has a key that is not a string: ${String(key)}`, {
        file,
      });
    }
    if ((value as TensorRef)?.kind !== "tensor") {
      throw new DataError(
        `entry "${key}" of the state dict is ${describe(value)}, not a tensor`,
        { file },
      );
    }
    const tensor = value as TensorRef;
    tensors.set(key, {
      dtype: tensor.storage.dtype,
      shape: tensor.shape,
      data: gather(await storage(tensor.storage, key), tensor, key, file),
    });
  }
  return { tensors, wrapper };
}

/**
 * Reads a `torch.save` file ({@linkcode parsePth}), naming `path` in every
 * error.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPth } from "./pth.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/notes.pth`, "not a checkpoint");
 * await assert.rejects(readPth(`${dir}/notes.pth`), /notes\.pth: not a PyTorch zip checkpoint/);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readPth(path: string): Promise<PthContents> {
  return await parsePth(await readWholeFile(path), { name: path });
}

/** The dict of tensors in `root`: itself, or the one under a wrapper key. */
function stateDict(
  root: unknown,
  file: string,
): { dict: Map<unknown, unknown>; wrapper?: string } {
  if (!(root instanceof Map)) {
    throw new DataError(`the file holds ${describe(root)}, not a state dict`, { file });
  }
  const isTensor = (v: unknown) => (v as TensorRef)?.kind === "tensor";
  if ([...root.values()].every(isTensor)) return { dict: root };
  for (const wrapper of WRAPPERS) {
    const inner = root.get(wrapper);
    if (inner instanceof Map) return { dict: inner, wrapper };
  }
  const keys = [...root.keys()].map(String);
  throw new DataError(
    `the file holds a dict of ${keys.slice(0, 8).join(", ")}${keys.length > 8 ? ", …" : ""} ` +
      `with entries that are not tensors, and no ${
        WRAPPERS.join("/")
      } entry holding the state dict`,
    { file },
  );
}

function describe(value: unknown): string {
  if (value === null) return "None";
  if (value instanceof Map) return "a dict";
  if (Array.isArray(value)) return "a tuple or list";
  if (value instanceof Uint8Array) return "bytes";
  return `a ${typeof value}`;
}

/** The tensor's values, read through its offset and strides. */
function gather(values: Float32Array, tensor: TensorRef, key: string, file: string): Float32Array {
  const { shape, stride, offset } = tensor;
  if (stride.length !== shape.length || stride.some((s) => s < 0) || shape.some((d) => d < 0)) {
    throw new DataError(
      `tensor "${key}" has size [${shape}] and stride [${stride}], which are not read`,
      { file },
    );
  }
  const n = shapeSize(shape);
  if (n === 0) return new Float32Array(0);
  let last = offset;
  for (let k = 0; k < shape.length; k++) last += (shape[k] - 1) * stride[k];
  if (last >= values.length) {
    throw new DataError(
      `tensor "${key}" reads element ${last} of a storage of ${values.length}; the file is damaged`,
      { file },
    );
  }
  let contiguous = true;
  for (let k = shape.length - 1, step = 1; k >= 0; k--) {
    if (shape[k] !== 1 && stride[k] !== step) contiguous = false;
    step *= shape[k];
  }
  if (contiguous) return values.subarray(offset, offset + n);
  const out = new Float32Array(n);
  const index = new Array<number>(shape.length).fill(0);
  let at = offset;
  for (let i = 0; i < n; i++) {
    out[i] = values[at];
    for (let k = shape.length - 1; k >= 0; k--) {
      index[k]++;
      at += stride[k];
      if (index[k] < shape[k]) break;
      at -= shape[k] * stride[k];
      index[k] = 0;
    }
  }
  return out;
}
