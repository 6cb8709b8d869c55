/**
 * Small file-system helpers.
 *
 * @module
 */

/**
 * Whether `path` exists. A missing file is `false`; any other failure (no
 * permission, say) is thrown.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { pathExists } from "./fs.ts";
 * assert.equal(await pathExists("/no/such/file"), false);
 * const dir = await Deno.makeTempDir();
 * assert.equal(await pathExists(dir), true);
 * await Deno.remove(dir);
 * ```
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Reads a whole file into one buffer of its size. It does what
 * `Deno.readFile` does, but `Deno.readFile` peaks at about twice the file's
 * size in memory, which matters for weight files of hundreds of megabytes.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { readWholeFile } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/b.bin`, new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await readWholeFile(`${dir}/b.bin`), new Uint8Array([1, 2, 3]));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readWholeFile(path: string): Promise<Uint8Array> {
  using file = await Deno.open(path);
  const size = (await file.stat()).size;
  const bytes = new Uint8Array(size);
  let at = 0;
  while (at < size) {
    const n = await file.read(bytes.subarray(at));
    if (n === null) break;
    at += n;
  }
  if (at < size) return bytes.subarray(0, at);
  // The file may have grown since the stat: read the rest the ordinary way.
  const rest = new Uint8Array(await new Response(file.readable).arrayBuffer());
  if (!rest.length) return bytes;
  const all = new Uint8Array(size + rest.length);
  all.set(bytes);
  all.set(rest, size);
  return all;
}
