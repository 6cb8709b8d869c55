/**
 * Writing files so that a crash never leaves half of one.
 *
 * @module
 */

/**
 * Writes `data` to `path` through a temporary file in the same folder and a
 * rename, so readers see the old file or the whole new one, never a part.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { writeFileAtomic } from "./atomic.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.json`, '{"ok":true}');
 * assert.equal(await Deno.readTextFile(`${dir}/a.json`), '{"ok":true}');
 * // No temporary file is left behind.
 * assert.deepStrictEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.json"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`Cannot write "${path}": ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Writes `value` as indented JSON to `path`, atomically.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { writeJsonAtomic } from "./atomic.ts";
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/r.json`, { accuracy: 0.9 });
 * assert.equal(await Deno.readTextFile(`${dir}/r.json`), '{\n  "accuracy": 0.9\n}\n');
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}
