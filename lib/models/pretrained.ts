/**
 * Loading pretrained weights (torchvision's, timm's on the Hugging Face Hub,
 * or any safetensors or `torch.save` file) into a model, through a key map
 * that says which of the file's keys fills which variable and how its
 * layout changes.
 *
 * It lives beside the models because it needs nothing above them: it reads
 * files with the plain parsers and the source fetcher of `lib/io/` (neither
 * loads sharp; `@huggingface/hub` is loaded only for `hf:` sources) and
 * assigns variables.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { tf } from "../deps.ts";
import { DataError } from "../data/errors.ts";
import { parsePth } from "../io/pth.ts";
import { parseSafetensors } from "../io/safetensors.ts";
import { shapeSize, type StoredTensor } from "../io/stored_tensor.ts";
import {
  fetchWeights,
  type FetchWeightsOptions,
  type WeightsNaming,
  type WeightsPreprocessing,
} from "../io/weights_source.ts";
import { readWholeFile } from "../util/fs.ts";
import type { TwoBranchModel } from "./types.ts";
import type { TwoBranchNet } from "./two_branch.ts";
import { pretrainedKeyMap } from "./pretrained_keys.ts";

/**
 * How one key of an external state dict fills one of the model's
 * variables. The same contract as `PretrainedKeyEntry` of
 * `lib/models/pretrained_keys.ts`, whose entries are these.
 */
export interface PretrainedKeyTarget {
  /** The variable's path, a key of `model.variables()`. */
  path: string;
  /** The variable's shape. */
  shape: readonly number[];
  /**
   * The key's shape in the file (PyTorch's layout), checked exactly. Where
   * a key map leaves it out, the file's shape must have the variable's
   * sizes in some order (sizes of 1 aside).
   */
  sourceShape?: readonly number[];
  /** Whether the key belongs to the classifier, which loads only when its shape fits. */
  classifier: boolean;
  /**
   * Turns the file's values, of the file's `shape`, into the variable's
   * layout (OIHW to HWIO for a convolution, `[out, in]` to `[in, out]` for
   * a dense layer, a copy for a bias).
   */
  convert(data: Float32Array, shape: number[], out?: Float32Array): Float32Array;
  /**
   * Whether a file's array of `shape`, which does not fit, can still be
   * resampled to the variable by `convert` (a vision transformer's position
   * embeddings made for another image size). Absent: it cannot.
   */
  resamples?(shape: readonly number[]): boolean;
}

/**
 * A model's key map under one naming: what `pretrainedKeyMap` of
 * `lib/models/pretrained_keys.ts` returns.
 */
export interface PretrainedKeys {
  /** External key (`"layer1.0.conv1.weight"`) to the variable it fills. */
  entries: ReadonlyMap<string, PretrainedKeyTarget>;
  /** External keys that fill nothing and may be dropped, with the reason (`num_batches_tracked`). */
  ignorable?: ReadonlyMap<string, string>;
}

/**
 * Gives the key map of `model` under a naming. Throws for a model or
 * naming it has no map for.
 */
export type PretrainedKeyMapFn = (model: TwoBranchModel, naming: WeightsNaming) => PretrainedKeys;

/** Options of {@linkcode loadPretrained}. */
export interface LoadPretrainedOptions extends FetchWeightsOptions {
  /**
   * The naming of the file's keys.
   * @default {"torchvision" for torchvision: sources, "timm" for hf: ones, else the naming whose key map matches more of the file's keys (torchvision on a tie)}
   */
  naming?: WeightsNaming;
  /** The key map. @default {pretrainedKeyMap of lib/models/pretrained_keys.ts} */
  keyMap?: PretrainedKeyMapFn;
  /** The SHA-256 the file must have, in hex (the whole hash, or its first 8 or more digits). @default {the source's, if it says} */
  sha256?: string;
}

/** What {@linkcode loadPretrained} did. */
export interface PretrainedReport {
  /** The source as given. */
  source: string;
  /** The weights file read (a cached copy for downloaded sources). */
  file: string;
  /** Whether this call downloaded it. */
  downloaded: boolean;
  /** The file's format. */
  format: "safetensors" | "pth";
  /** The file's SHA-256, in hex. */
  sha256: string;
  /** The naming of the file's keys that was used. */
  naming: WeightsNaming;
  /** The model's variables that were loaded, by path. */
  loaded: string[];
  /**
   * The keys that filled nothing, each with why: the file's keys the model
   * does not use (a batch-norm step counter, another head), and the
   * classifier's keys where the classifier was not loaded (its shape does
   * not fit the model's number of classes, or the file lacks it).
   */
  skipped: { key: string; reason: string }[];
  /**
   * The model's variables that keep their fresh initialisation, by path:
   * those the key map does not cover (the saliency head), and the
   * classifier's where it was skipped. With `loaded`, every variable.
   */
  missing: string[];
  /**
   * The file's tensors that were resampled to fit, with their shapes in the
   * file and in the model: a vision transformer's position embeddings made
   * for another image size (class token kept, the grid resampled bicubic
   * and antialiased, as timm's `resample_abs_pos_embed`).
   */
  resampled: { key: string; path: string; from: number[]; to: number[] }[];
  /** The input normalisation the weights expect, where the source says (`torchvision:`, `hf:`). */
  preprocessing?: WeightsPreprocessing;
}

const NAMINGS: readonly WeightsNaming[] = ["torchvision", "timm"];

/**
 * Loads pretrained weights into `model`'s variables. `source` is a local
 * `.safetensors` or `.pth` file, `hf:<owner>/<repo>[@<revision>]`,
 * `torchvision:<arch>[@<weights>]` or a URL (see `fetchWeights`, which
 * downloads into the cache once, checking the SHA-256, with a progress bar
 * unless `quiet`).
 *
 * Every key of the key map must be in the file with a fitting shape, else a
 * {@linkcode DataError} names the key and the file. The classifier is the
 * exception: where its shape does not fit (another number of classes) or
 * it is absent, it keeps its fresh initialisation and the report says so.
 * A vision transformer's position embeddings made for another image size
 * (224-px weights in a model for 64 px) are resampled, and `resampled`
 * says so. Everything is checked, and converted, before the first variable is
 * assigned, so a failure changes nothing. No tensor is left behind.
 *
 * @example Load a state dict whose keys follow a hand-made key map
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPretrained, type PretrainedKeyMapFn } from "./pretrained.ts";
 * import { createReferenceNet } from "./reference_net.ts";
 * import { writeSafetensors } from "../io/safetensors.ts";
 * const model = createReferenceNet({ numClasses: 3, inputSize: 16, width: 0.25 });
 * // One key: the classifier's bias, the same in both layouts.
 * const keyMap: PretrainedKeyMapFn = () => ({
 *   entries: new Map([["fc.bias", {
 *     path: "reference_net/fc/bias",
 *     shape: [3],
 *     sourceShape: [3],
 *     convert: (data: Float32Array) => data.slice(),
 *     classifier: true,
 *   }]]),
 * });
 * const dir = await Deno.makeTempDir();
 * await writeSafetensors(`${dir}/fc.safetensors`, {
 *   "fc.bias": { shape: [3], data: new Float32Array([1, 2, 3]) },
 * });
 * const report = await loadPretrained(model, `${dir}/fc.safetensors`, { keyMap });
 * assert.deepEqual(report.loaded, ["reference_net/fc/bias"]);
 * assert.deepEqual([...model.variables().get("reference_net/fc/bias")!.dataSync()], [1, 2, 3]);
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadPretrained(
  model: TwoBranchModel,
  source: string,
  options: LoadPretrainedOptions = {},
): Promise<PretrainedReport> {
  const fetched = await fetchWeights(source, options);
  const file = fetched.file;
  let bytes: Uint8Array;
  try {
    bytes = await readWholeFile(file);
  } catch (error) {
    throw new DataError(`cannot read the weights file: ${(error as Error).message}`, { file }, {
      cause: error,
    });
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const expected = (options.sha256 ?? fetched.sha256)?.toLowerCase();
  if (expected && !sha256.startsWith(expected)) {
    throw new DataError(
      `its SHA-256 is ${sha256}, not ${expected.length < 64 ? "one starting with " : ""}` +
        `${expected}; ${
          fetched.downloaded || file === source
            ? "the file is not the one meant"
            : "the cached copy is damaged: delete it to download it again"
        }`,
      { file },
    );
  }
  // Safetensors starts with its header's length, then "{"; torch.save with "PK".
  const format = bytes.length > 8 && bytes[8] === 0x7b ? "safetensors" : "pth";
  const tensors = format === "safetensors"
    ? parseSafetensors(bytes, { name: file }).tensors
    : (await parsePth(bytes, { name: file })).tensors;

  const keyMapFn = options.keyMap ?? builtInKeyMap;
  const naming = options.naming ?? fetched.naming ?? pickNaming(model, keyMapFn, tensors, file);
  const keyMap = keyMapOf(keyMapFn, model, naming);
  const plan = planLoad(model, keyMap, tensors, file, naming);
  // One conversion buffer for every tensor: the engine copies each into its own memory.
  const scratch = new Float32Array(Math.max(0, ...plan.assignments.map((a) => a.variable.size)));
  for (const { variable, data } of plan.assignments) {
    const values = data(scratch.subarray(0, variable.size));
    tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, variable.dtype)));
  }
  const loaded = new Set(plan.assignments.map((a) => a.path));
  const report: PretrainedReport = {
    source,
    file,
    downloaded: fetched.downloaded,
    format,
    sha256,
    naming,
    loaded: [...model.variables().keys()].filter((p) => loaded.has(p)),
    skipped: plan.skipped,
    missing: [...model.variables().keys()].filter((p) => !loaded.has(p)),
    resampled: plan.resampled,
  };
  if (fetched.preprocessing) report.preprocessing = fetched.preprocessing;
  return report;
}

/** The built-in key map ({@linkcode pretrainedKeyMap}) for two-branch models. */
const builtInKeyMap: PretrainedKeyMapFn = (model, naming) =>
  pretrainedKeyMap(model as TwoBranchNet, naming);

/** `keyMapFn(model, naming)`, its errors saying what was being done. */
function keyMapOf(
  keyMapFn: PretrainedKeyMapFn,
  model: TwoBranchModel,
  naming: WeightsNaming,
): PretrainedKeys {
  try {
    return keyMapFn(model, naming);
  } catch (error) {
    throw new Error(
      `Cannot load pretrained weights into "${model.name}" under the ${naming} naming: ` +
        (error as Error).message.split("\n")[0],
      { cause: error },
    );
  }
}

/** The naming whose key map finds more of its keys in the file (torchvision on a tie). */
function pickNaming(
  model: TwoBranchModel,
  keyMapFn: PretrainedKeyMapFn,
  tensors: ReadonlyMap<string, StoredTensor>,
  file: string,
): WeightsNaming {
  let best: WeightsNaming | undefined, bestCount = 0;
  const reasons: string[] = [];
  for (const naming of NAMINGS) {
    let keys: string[];
    try {
      keys = [...keyMapFn(model, naming).entries.keys()];
    } catch (error) {
      reasons.push(`${naming}: ${(error as Error).message.split("\n")[0]}`);
      continue;
    }
    const count = keys.filter((k) => tensors.has(k)).length;
    reasons.push(`${naming}: ${count} of ${keys.length} keys, such as "${keys[0]}"`);
    if (count > bestCount) [best, bestCount] = [naming, count];
  }
  if (!best) {
    throw new DataError(
      `no key of the file (such as "${[...tensors.keys()][0]}") is one the model expects ` +
        `(${reasons.join("; ")}); is it a checkpoint of another architecture?`,
      { file },
    );
  }
  return best;
}

/** A variable with the values it will get. */
interface Assignment {
  path: string;
  variable: tf.Variable;
  /** The values in the variable's layout, converted into `out` when assigned (one at a time). */
  data: (out: Float32Array) => Float32Array;
}

/** Whether the file's shape has the variable's sizes, in some order, sizes of 1 aside. */
function fits(stored: readonly number[], entry: PretrainedKeyTarget): boolean {
  if (entry.sourceShape) return stored.join() === entry.sourceShape.join();
  const sizes = (s: readonly number[]) => s.filter((d) => d !== 1).sort((a, b) => a - b).join();
  return sizes(stored) === sizes(entry.shape) && shapeSize(stored) === shapeSize(entry.shape);
}

/**
 * Checks every key and converts every value; throws before anything is
 * assigned. Returns the assignments and the file's unused keys.
 */
function planLoad(
  model: TwoBranchModel,
  keys: PretrainedKeys,
  tensors: ReadonlyMap<string, StoredTensor>,
  file: string,
  naming: WeightsNaming,
): Pick<PretrainedReport, "skipped" | "resampled"> & { assignments: Assignment[] } {
  const variables = model.variables();
  const missing: string[] = [];
  const misfits: string[] = [];
  const classifierProblems: string[] = [];
  const keyMap = keys.entries;
  const matched: [string, PretrainedKeyTarget, StoredTensor][] = [];
  const resampled: PretrainedReport["resampled"] = [];
  for (const [key, entry] of keyMap) {
    const variable = variables.get(entry.path);
    if (!variable || variable.shape.join() !== entry.shape.join()) {
      throw new RangeError(
        `Cannot load pretrained weights: the ${naming} key map sends "${key}" to variable ` +
          `"${entry.path}" [${entry.shape}], but the model's is ${
            variable ? `[${variable.shape}]` : "not there"
          }`,
      );
    }
    const stored = tensors.get(key);
    if (!stored) {
      (entry.classifier ? classifierProblems : missing).push(key);
    } else if (!fits(stored.shape, entry) && entry.resamples?.(stored.shape)) {
      resampled.push({ key, path: entry.path, from: [...stored.shape], to: [...entry.shape] });
      matched.push([key, entry, stored]);
    } else if (!fits(stored.shape, entry)) {
      const reason = `tensor "${key}" has shape [${stored.shape}], but the model's ` +
        `"${entry.path}" is [${entry.shape}]`;
      (entry.classifier ? classifierProblems : misfits).push(entry.classifier ? key : reason);
    } else {
      matched.push([key, entry, stored]);
    }
  }
  if (missing.length) {
    throw new DataError(
      `the file has no tensor "${missing[0]}"${
        missing.length > 1 ? ` (nor ${missing.length - 1} more of the ${keyMap.size})` : ""
      } for the model's "${keyMap.get(missing[0])!.path}"; is it a ${naming} checkpoint of ` +
        `this architecture? Nothing was loaded`,
      { file },
    );
  }
  if (misfits.length) {
    throw new DataError(
      `${misfits[0]}${
        misfits.length > 1 ? ` (and ${misfits.length - 1} more do not fit)` : ""
      }; is it a checkpoint of this architecture and width? Nothing was loaded`,
      { file },
    );
  }
  const skipped: { key: string; reason: string }[] = [];
  const dropClassifier = classifierProblems.length > 0;
  const assignments: Assignment[] = [];
  for (const [key, entry, stored] of matched) {
    if (entry.classifier && dropClassifier) continue;
    // Checked now, converted when assigned: every file tensor and its converted copy never
    // stand in memory at once, only the file and one converted tensor.
    const resampling = resampled.some((r) => r.key === key);
    if (stored.data.length !== shapeSize(resampling ? stored.shape : entry.shape)) {
      throw new RangeError(
        `Cannot load pretrained weights: the ${naming} key map sends "${key}" ` +
          `(${stored.data.length} values) to [${entry.shape}]`,
      );
    }
    const data = (out: Float32Array) => {
      const values = entry.convert(stored.data, stored.shape, out);
      if (values.length !== shapeSize(entry.shape)) {
        throw new RangeError(
          `Cannot load pretrained weights: the ${naming} key map's conversion of "${key}" ` +
            `gave ${values.length} values for [${entry.shape}]`,
        );
      }
      return values;
    };
    assignments.push({ path: entry.path, variable: variables.get(entry.path)!, data });
  }
  if (dropClassifier) {
    const misfit = classifierProblems.find((k) => tensors.has(k));
    for (const [key, entry] of keyMap) {
      if (!entry.classifier) continue;
      const stored = tensors.get(key);
      const why = !stored
        ? "not in the file"
        : key === misfit || classifierProblems.includes(key)
        ? `shape [${stored.shape}] in the file, [${entry.shape}] in the model`
        : `it loads only as a whole, and "${misfit ?? classifierProblems[0]}" does not fit`;
      skipped.push({ key, reason: `classifier: ${why}; it keeps its fresh initialisation` });
    }
  }
  for (const key of tensors.keys()) {
    if (keyMap.has(key)) continue;
    skipped.push({
      key,
      reason: keys.ignorable?.get(key) ??
        (key.endsWith("num_batches_tracked")
          ? "a batch-norm step counter, not used"
          : `no variable of the model takes it under the ${naming} naming`),
    });
  }
  return { assignments, skipped, resampled };
}
