/**
 * A user's own dataset as folders: `root/<class>/<image>`, annotated with
 * masks in a parallel `masks/<class>/<stem>.png` tree, or not at all.
 *
 * @module
 */
import * as path from "node:path";
import { DataError } from "../lib/data/errors.ts";
import type { Dataset, Sample, SampleRecord } from "../lib/data/types.ts";
import {
  checkChannels,
  checkOnError,
  DirectoryCache,
  listDir,
  loadImageAndMask,
  makeDataset,
  Problems,
  statKind,
} from "./_common.ts";
import { registerDataset } from "./registry.ts";

/** The image extensions {@linkcode loadImageFolder} reads by default (those sharp decodes). */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze([
  ".jpg",
  ".jpeg",
  ".png",
  ".webp",
  ".tif",
  ".tiff",
  ".gif",
  ".avif",
]);

/** Options of {@linkcode loadImageFolder}. */
export interface LoadImageFolderOptions {
  /**
   * The masks folder, holding `<class>/<sub folders>/<stem>.png` for
   * `root/<class>/<sub folders>/<stem>.<ext>`; `null` reads no masks. Left
   * out, the loader looks for `<root>/masks` (which is then not a class),
   * then for a sibling `<root>/../masks`; the one used is
   * `dataset.masksDir`.
   * @default {auto-detected as described}
   */
  masksDir?: string | null;
  /** File extensions read as images, case-insensitive. @default {IMAGE_EXTENSIONS} */
  extensions?: readonly string[];
  /**
   * The class names in label order. Left out, the class folders sorted by
   * code unit (as torchvision's `ImageFolder` does). Given, a folder not in
   * the list is an unknown class, and a listed class without a folder is an
   * error (thrown, or recorded and the class kept empty under "skip").
   * @default {the folder names, sorted}
   */
  classes?: readonly string[];
  /** Image channels: 3 (RGB; grey replicated) or 1. @default {3} */
  channels?: 1 | 3;
  /**
   * What to do with an empty or unknown class folder: throw a `DataError`,
   * or skip it and record why in `dataset.skipped`. (Files with other
   * extensions are always passed over and listed in `dataset.skipped`.)
   * @default {"throw"}
   */
  onError?: "throw" | "skip";
}

/** The dataset {@linkcode loadImageFolder} returns. */
export interface ImageFolderDataset extends Dataset {
  /** The masks folder in use, if any. */
  readonly masksDir?: string;
}

interface FolderEntry {
  id: string;
  label: number;
  image: string;
  mask?: string;
}

/**
 * Loads `root/<class>/<image>`: one class per folder, images found in sub
 * folders too. Samples come class by class in label order, and within a
 * class in natural name order ("img2" before "img10"), a folder's files
 * before its sub folders. With a masks folder, a sample's
 * mask is `masks/<class>/<stem>.png` where that file exists (so a dataset
 * may be partly annotated: `records[i].hasMask` says which); a mask must
 * have its image's size. Masks without an image are not read.
 *
 * - Labels are indices into `classNames` (the sorted folder names, or
 *   `options.classes`).
 * - Sample ids are `<class>/<path inside the class folder>`.
 * - An empty class folder (no image files) is an error naming the folder.
 * - Files at the top of `root`, and files with other extensions, are
 *   passed over and listed in `dataset.skipped`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { loadImageFolder } from "./image_folder.ts";
 * import { loadSharp } from "../lib/deps.ts";
 * const root = await Deno.makeTempDir();
 * const sharp = await loadSharp();
 * for (const c of ["dog", "cat"]) {
 *   await Deno.mkdir(`${root}/${c}`);
 *   await sharp({ create: { width: 4, height: 4, channels: 3, background: "#fff" } })
 *     .png().toFile(`${root}/${c}/a.png`);
 * }
 * await Deno.writeTextFile(`${root}/cat/notes.txt`, "not an image");
 * const data = await loadImageFolder(root);
 * assert.deepStrictEqual(data.classNames, ["cat", "dog"]); // sorted
 * assert.equal(data.size, 2);
 * assert.equal(data.skipped.length, 1); // notes.txt
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function loadImageFolder(
  root: string,
  options: LoadImageFolderOptions = {},
): Promise<ImageFolderDataset> {
  const channels = checkChannels(options.channels);
  const problems = new Problems(checkOnError(options.onError));
  const extensions = new Set(
    (options.extensions ?? IMAGE_EXTENSIONS).map((e) =>
      (e.startsWith(".") ? e : `.${e}`).toLowerCase()
    ),
  );
  if ((await statKind(root)) !== "dir") {
    throw new DataError("dataset folder not found", { file: root });
  }
  const masksDir = await findMasksDir(root, options.masksDir);
  const insideMasks = masksDir !== undefined &&
    path.resolve(masksDir) === path.resolve(root, "masks");

  const top = await listDir(root);
  for (const f of top.files) {
    problems.note("file outside any class folder: not read", { file: path.join(root, f) });
  }
  const folders = top.dirs.filter((d) => !(insideMasks && d === "masks"));
  let classNames: string[];
  if (options.classes) {
    classNames = [...options.classes];
    const dup = classNames.find((c, i) => classNames.indexOf(c) !== i);
    if (dup !== undefined) throw new TypeError(`Option "classes" names "${dup}" twice`);
  } else {
    classNames = [...folders].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
  const labelOf = new Map(classNames.map((c, k) => [c, k]));
  for (const folder of folders) {
    if (!labelOf.has(folder)) {
      problems.fail(
        `unknown class "${folder}": not in options.classes (${classNames.join(", ")})`,
        { file: path.join(root, folder), field: "classes" },
      );
    }
  }

  const cache = new DirectoryCache();
  const entries: FolderEntry[] = [];
  for (let label = 0; label < classNames.length; label++) {
    const className = classNames[label];
    const dir = path.join(root, className);
    if (!folders.includes(className)) {
      problems.fail(`class folder for "${className}" not found`, { file: dir, field: "classes" });
      continue;
    }
    const before = entries.length;
    const walk = async (rel: string): Promise<void> => {
      const here = path.join(dir, rel);
      const { files, dirs } = await listDir(here);
      for (const name of files) {
        const relFile = rel === "" ? name : `${rel}/${name}`;
        const ext = path.extname(name).toLowerCase();
        if (!extensions.has(ext)) {
          problems.note(
            `extension "${ext || "(none)"}" is not an image type read here (${
              [...extensions].join(", ")
            })`,
            { file: path.join(here, name) },
          );
          continue;
        }
        const entry: FolderEntry = {
          id: `${className}/${relFile}`,
          label,
          image: path.join(here, name),
        };
        if (masksDir !== undefined) {
          const mask = path.join(masksDir, className, rel, `${name.slice(0, -ext.length)}.png`);
          if (await cache.hasFile(mask)) entry.mask = mask;
        }
        entries.push(entry);
      }
      for (const d of dirs) await walk(rel === "" ? d : `${rel}/${d}`);
    };
    await walk("");
    if (entries.length === before) {
      problems.fail(`class folder "${className}" has no images`, { file: dir });
    }
  }

  const records: SampleRecord[] = entries.map((e) => ({
    id: e.id,
    label: e.label,
    hasMask: e.mask !== undefined,
    hasBoxes: false,
    source: path.relative(root, e.image).replaceAll("\\", "/"),
    files: { image: e.image, masks: e.mask ? [e.mask] : [] },
  }));

  function load(index: number): Promise<Sample> {
    return loadImageAndMask(entries[index], channels);
  }

  return makeDataset(
    { name: "image-folder", classNames, records, skipped: problems.skipped, load },
    masksDir === undefined ? {} : { masksDir },
  );
}

async function findMasksDir(
  root: string,
  option: string | null | undefined,
): Promise<string | undefined> {
  if (option === null) return undefined;
  if (option !== undefined) {
    if ((await statKind(option)) !== "dir") {
      throw new DataError("masks folder not found", { file: option, field: "masksDir" });
    }
    return option;
  }
  const inside = path.join(root, "masks");
  if ((await statKind(inside)) === "dir") return inside;
  const beside = path.join(root, "..", "masks");
  if (path.resolve(beside) !== path.resolve(root) && (await statKind(beside)) === "dir") {
    return beside;
  }
  return undefined;
}

registerDataset("folder", ({ root }) => loadImageFolder(root!, { channels: 3 }), {
  needsRoot: true,
  description: "root/<class>/<image>, optionally with masks/<class>/<stem>.png",
});
