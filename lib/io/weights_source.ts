/**
 * Where pretrained weights come from: a local file, a Hugging Face Hub
 * repository (`hf:`), torchvision's ImageNet weights (`torchvision:`) or a
 * URL, fetched once into a cache folder and read from there afterwards,
 * offline included.
 *
 * @module
 */
import { loadHuggingFaceHub } from "../deps.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { pathExists } from "../util/fs.ts";
import { saveStream } from "./_download.ts";

/** The naming scheme of a state dict's keys: torchvision's or timm's. */
export type WeightsNaming = "torchvision" | "timm";

/**
 * How the weights expect their input, for `[0, 1]` images: subtract `mean`
 * and divide by `std`, per channel (RGB).
 */
export interface WeightsPreprocessing {
  /** Per-channel mean. */
  mean: number[];
  /** Per-channel standard deviation. */
  std: number[];
  /** The input `[height, width]` the weights were trained (or evaluated) at. */
  inputSize?: [number, number];
  /** The shorter side images are resized to before a centre crop of `inputSize` (torchvision). */
  resizeSize?: number;
  /** The share of the image the centre crop keeps (timm's `crop_pct`). */
  cropPct?: number;
  /** The resize interpolation (`"bilinear"`, `"bicubic"`). */
  interpolation?: string;
}

/** What {@linkcode fetchWeights} found. */
export interface FetchedWeights {
  /** The source as given. */
  source: string;
  /** The local weights file: the path given, or the cached copy. */
  file: string;
  /** Whether this call downloaded it (`false`: a local path or a cache hit). */
  downloaded: boolean;
  /**
   * The SHA-256 the file must have, in hex, where the source says: the whole
   * hash (`hf:`, from the Hub) or its start (from a torchvision or torch.hub
   * file name). A download was checked against it; a cached copy is not
   * re-read here, so a reader checks the bytes it reads (as
   * `loadPretrained` does).
   */
  sha256?: string;
  /** The naming the source's keys follow, where the source says (`torchvision:`, `hf:`). */
  naming?: WeightsNaming;
  /** The input normalisation the weights expect, where the source says. */
  preprocessing?: WeightsPreprocessing;
}

/** Options of {@linkcode fetchWeights}. */
export interface FetchWeightsOptions {
  /**
   * The cache folder.
   * @default {$SALIENCY_LAB_CACHE, else $XDG_CACHE_HOME/saliency-lab, else ~/.cache/saliency-lab}
   */
  cacheDir?: string;
  /** The Hugging Face Hub endpoint. @default {$HF_ENDPOINT, else "https://huggingface.co"} */
  hubUrl?: string;
  /** A Hub access token (`hf_…`), for gated or private repositories. @default {$HF_TOKEN} */
  accessToken?: string;
  /** Where torchvision's weights files are. @default {"https://download.pytorch.org/models"} */
  torchvisionUrl?: string;
  /** No progress bar or download line on standard error. @default {false} */
  quiet?: boolean;
}

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** A torchvision weights file and the resize its evaluation used. */
interface TorchvisionFile {
  file: string;
  resizeSize: number;
}

/**
 * torchvision's ImageNet weights (torchvision/models/*.py, 0.14): per
 * architecture, the weights by name, the first being `DEFAULT`. The hex in
 * each file name is the start of the file's SHA-256.
 */
const TORCHVISION: Readonly<Record<string, Readonly<Record<string, TorchvisionFile>>>> = {
  resnet18: { IMAGENET1K_V1: { file: "resnet18-f37072fd.pth", resizeSize: 256 } },
  resnet34: { IMAGENET1K_V1: { file: "resnet34-b627a593.pth", resizeSize: 256 } },
  resnet50: {
    IMAGENET1K_V2: { file: "resnet50-11ad3fa6.pth", resizeSize: 232 },
    IMAGENET1K_V1: { file: "resnet50-0676ba61.pth", resizeSize: 256 },
  },
  resnet101: {
    IMAGENET1K_V2: { file: "resnet101-cd907fc2.pth", resizeSize: 232 },
    IMAGENET1K_V1: { file: "resnet101-63fe2227.pth", resizeSize: 256 },
  },
  mobilenet_v2: {
    IMAGENET1K_V2: { file: "mobilenet_v2-7ebf99e0.pth", resizeSize: 232 },
    IMAGENET1K_V1: { file: "mobilenet_v2-b0353104.pth", resizeSize: 256 },
  },
  vgg11_bn: { IMAGENET1K_V1: { file: "vgg11_bn-6002323d.pth", resizeSize: 256 } },
};

/**
 * The `torchvision:` sources {@linkcode fetchWeights} knows, each as
 * `torchvision:<arch>@<weights>`, the default weights first for each
 * architecture (`torchvision:<arch>` means that one).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { listTorchvisionWeights } from "./weights_source.ts";
 * assert.ok(listTorchvisionWeights().includes("torchvision:resnet50@IMAGENET1K_V2"));
 * ```
 */
export function listTorchvisionWeights(): string[] {
  return Object.entries(TORCHVISION).flatMap(([arch, weights]) =>
    Object.keys(weights).map((name) => `torchvision:${arch}@${name}`)
  );
}

/** Reads an environment variable; `undefined` when unset or not permitted. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The cache folder of downloaded weights: `options.cacheDir`, else
 * `$SALIENCY_LAB_CACHE`, else `$XDG_CACHE_HOME/saliency-lab`, else
 * `~/.cache/saliency-lab` (`%LOCALAPPDATA%\saliency-lab` on Windows).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { weightsCacheDir } from "./weights_source.ts";
 * assert.equal(weightsCacheDir({ cacheDir: "/tmp/w" }), "/tmp/w");
 * ```
 */
export function weightsCacheDir(options: { cacheDir?: string } = {}): string {
  const dir = options.cacheDir ?? env("SALIENCY_LAB_CACHE");
  if (dir) return dir;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/saliency-lab`;
  const windows = env("LOCALAPPDATA");
  if (Deno.build.os === "windows" && windows) return `${windows}\\saliency-lab`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) {
    throw new Error(
      "Cannot find a cache folder for weights: set SALIENCY_LAB_CACHE or pass options.cacheDir",
    );
  }
  return `${home}/.cache/saliency-lab`;
}

/**
 * Makes a weights source available as a local file, downloading it into
 * the cache folder ({@linkcode weightsCacheDir}) the first time. Sources:
 *
 * - a local path (`weights/resnet18.safetensors`, `ckpt.pth`): used as it is;
 * - `hf:<owner>/<repo>[@<revision>]` (`hf:timm/resnet50.a1_in1k`): the
 *   repository's `model.safetensors` (else `pytorch_model.bin`) and, where
 *   there is one, `config.json`, whose timm `pretrained_cfg` gives the
 *   preprocessing; the download's SHA-256 is checked against the Hub's;
 * - `torchvision:<arch>[@<weights>]` (`torchvision:resnet50`,
 *   `torchvision:resnet50@IMAGENET1K_V1`): torchvision's ImageNet weights
 *   ({@linkcode listTorchvisionWeights}), the start of whose SHA-256 is in
 *   the file name and checked;
 * - an `http(s)://` URL: cached by file name; a name of the form
 *   `name-<hex>.ext` is checked as torch.hub does (the hex starts the SHA-256).
 *
 * A download goes through a temporary file, so the cache never holds a
 * partial or unchecked file; a cached source is used without any request
 * (offline too): delete its cache entry to fetch a moved `main` again.
 *
 * @example A local file is used where it is
 * ```ts
 * import assert from "node:assert/strict";
 * import { fetchWeights } from "./weights_source.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/w.safetensors`, new Uint8Array(16));
 * const found = await fetchWeights(`${dir}/w.safetensors`);
 * assert.equal(found.file, `${dir}/w.safetensors`);
 * assert.equal(found.downloaded, false);
 * await assert.rejects(fetchWeights("torchvison:resnet18"), /Cannot find weights "torchvison:resnet18"/);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function fetchWeights(
  source: string,
  options: FetchWeightsOptions = {},
): Promise<FetchedWeights> {
  if (source.startsWith("hf:")) return await fetchHub(source, options);
  if (source.startsWith("torchvision:")) return await fetchTorchvision(source, options);
  if (/^https?:\/\//.test(source)) {
    const name = new URL(source).pathname.split("/").pop() ?? "";
    if (!name) throw new RangeError(`Cannot fetch weights from "${source}": the URL names no file`);
    const file = `${weightsCacheDir(options)}/checkpoints/${name}`;
    const downloaded = await fetchUrl(source, file, options);
    return { source, file, downloaded, ...hashOf(name) };
  }
  if (!(await pathExists(source))) {
    throw new Error(
      `Cannot find weights "${source}": no such file, and not an hf:, torchvision: or ` +
        `http(s):// source`,
    );
  }
  return { source, file: source, downloaded: false };
}

/** `{ sha256 }` when a file name carries the start of its hash, else `{}`. */
function hashOf(name: string): { sha256?: string } {
  const prefix = hashInName(name);
  return prefix ? { sha256: prefix } : {};
}

/** The SHA-256 prefix a `name-<hex>.ext` file name carries, as torch.hub reads it. */
function hashInName(name: string): string | undefined {
  return /-([0-9a-f]{8,64})\.[^.]+$/.exec(name)?.[1];
}

/** Downloads `url` to `file` unless it is there; whether it downloaded. */
async function fetchUrl(url: string, file: string, options: FetchWeightsOptions): Promise<boolean> {
  if (await pathExists(file)) return false;
  const prefix = hashInName(file.split("/").pop()!);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(
      `Cannot download ${url}: ${(error as Error).message} (the cache has no copy at ${file})`,
      { cause: error },
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`Cannot download ${url}: HTTP ${response.status} ${response.statusText}`);
  }
  const length = Number(response.headers.get("content-length") ?? NaN);
  await saveStream(response.body, file, {
    what: url,
    size: Number.isFinite(length) ? length : undefined,
    sha256: prefix,
    sha256From: "its file name",
    quiet: options.quiet ?? false,
  });
  return true;
}

async function fetchTorchvision(
  source: string,
  options: FetchWeightsOptions,
): Promise<FetchedWeights> {
  const [arch, weightsName] = source.slice("torchvision:".length).split("@");
  const weights = TORCHVISION[arch];
  if (!weights) {
    throw new RangeError(
      `Unknown weights source "${source}": torchvision architectures are ` +
        `${Object.keys(TORCHVISION).join(", ")}`,
    );
  }
  const name = weightsName ?? Object.keys(weights)[0];
  const entry = weights[name];
  if (!entry) {
    throw new RangeError(
      `Unknown weights source "${source}": ${arch}'s weights are ${
        Object.keys(weights).join(", ")
      }`,
    );
  }
  const base = (options.torchvisionUrl ?? "https://download.pytorch.org/models").replace(
    /\/+$/,
    "",
  );
  const file = `${weightsCacheDir(options)}/checkpoints/${entry.file}`;
  const downloaded = await fetchUrl(`${base}/${entry.file}`, file, options);
  return {
    source,
    file,
    downloaded,
    sha256: hashInName(entry.file),
    naming: "torchvision",
    preprocessing: {
      ...IMAGENET,
      inputSize: [224, 224],
      resizeSize: entry.resizeSize,
      interpolation: "bilinear",
    },
  };
}

/** What the cache keeps beside a Hub download, written last: its presence means complete. */
interface HubManifest {
  weights: string;
  sha256: string;
  config: boolean;
}

const HUB_MANIFEST = "saliency-lab-files.json";

async function fetchHub(source: string, options: FetchWeightsOptions): Promise<FetchedWeights> {
  const spec = source.slice("hf:".length);
  const at = spec.indexOf("@");
  const repo = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? "main" : spec.slice(at + 1);
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo) || !revision) {
    throw new RangeError(
      `Unknown weights source "${source}": expected hf:<owner>/<repo>[@<revision>]`,
    );
  }
  const dir = `${weightsCacheDir(options)}/hf/${repo.replace("/", "--")}/${
    encodeURIComponent(revision)
  }`;
  let manifest = await readManifest(`${dir}/${HUB_MANIFEST}`);
  let downloaded = false;
  if (!manifest) {
    manifest = await downloadHub(source, repo, revision, dir, options);
    downloaded = true;
  }
  const result: FetchedWeights = {
    source,
    file: `${dir}/${manifest.weights}`,
    downloaded,
    sha256: manifest.sha256,
    naming: "timm",
  };
  if (manifest.config) {
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    const preprocessing = timmPreprocessing(config);
    if (preprocessing) result.preprocessing = preprocessing;
  }
  return result;
}

async function readManifest(path: string): Promise<HubManifest | undefined> {
  if (!(await pathExists(path))) return undefined;
  const manifest = JSON.parse(await Deno.readTextFile(path)) as HubManifest;
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (!(await pathExists(`${dir}/${manifest.weights}`))) return undefined;
  return manifest;
}

async function downloadHub(
  source: string,
  repo: string,
  revision: string,
  dir: string,
  options: FetchWeightsOptions,
): Promise<HubManifest> {
  const hub = await loadHuggingFaceHub();
  const params = {
    repo,
    revision,
    hubUrl: (options.hubUrl ?? env("HF_ENDPOINT") ?? "https://huggingface.co").replace(/\/+$/, ""),
    accessToken: options.accessToken ?? env("HF_TOKEN"),
  };
  const fail = (error: unknown): never => {
    throw new Error(
      `Cannot download ${source} from ${params.hubUrl}: ${(error as Error).message} ` +
        `(the cache has no copy at ${dir})`,
      { cause: error },
    );
  };
  let weights = "model.safetensors";
  let info = await hub.fileDownloadInfo({ ...params, path: weights }).catch(fail);
  if (!info) {
    weights = "pytorch_model.bin";
    info = await hub.fileDownloadInfo({ ...params, path: weights }).catch(fail);
  }
  if (!info) {
    throw new Error(
      `Cannot download ${source}: the repository has neither model.safetensors nor ` +
        `pytorch_model.bin at revision ${revision}`,
    );
  }
  // The Hub's ETag of a large (LFS or Xet) file is its SHA-256.
  const etag = info.etag.replace(/^W\//, "").replaceAll('"', "");
  const blob = await hub.downloadFile({ ...params, path: weights, downloadInfo: info }).catch(fail);
  const sha256 = await saveStream(blob!.stream(), `${dir}/${weights}`, {
    what: `${source} (${weights})`,
    size: info.size,
    sha256: /^[0-9a-f]{64}$/.test(etag) ? etag : undefined,
    sha256From: "the Hub",
    quiet: options.quiet ?? false,
  });
  const configInfo = await hub.fileDownloadInfo({ ...params, path: "config.json" }).catch(fail);
  if (configInfo) {
    const config = await hub.downloadFile({
      ...params,
      path: "config.json",
      downloadInfo: configInfo,
    })
      .catch(fail);
    const text = await config!.text();
    try {
      JSON.parse(text);
    } catch (error) {
      throw new Error(`Cannot use ${source}'s config.json: ${(error as Error).message}`, {
        cause: error,
      });
    }
    await writeFileAtomic(`${dir}/config.json`, text);
  }
  const manifest = { weights, sha256, config: configInfo !== null };
  await writeFileAtomic(`${dir}/${HUB_MANIFEST}`, JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

/** The preprocessing in a timm `config.json` (`pretrained_cfg`, or the top level). */
function timmPreprocessing(config: Record<string, unknown>): WeightsPreprocessing | undefined {
  const cfg = (config.pretrained_cfg ?? config) as Record<string, unknown>;
  const numbers = (v: unknown) =>
    Array.isArray(v) && v.every((x) => typeof x === "number") ? v as number[] : undefined;
  const mean = numbers(cfg.mean), std = numbers(cfg.std);
  if (!mean || !std) return undefined;
  const result: WeightsPreprocessing = { mean, std };
  const size = numbers(cfg.input_size);
  if (size?.length === 3) result.inputSize = [size[1], size[2]];
  if (typeof cfg.crop_pct === "number") result.cropPct = cfg.crop_pct;
  if (typeof cfg.interpolation === "string") result.interpolation = cfg.interpolation;
  return result;
}
