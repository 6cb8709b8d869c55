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
 * import { pathExists } from "./fs.ts";
 * console.log(await pathExists("/no/such/file")); // false
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
