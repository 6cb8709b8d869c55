/**
 * Globs for the registries' `list…(pattern)` filters.
 *
 * @module
 */

/**
 * A glob as an anchored regular expression: `*` stands for any run of
 * characters, `?` for one; everything else is literal.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { globToRegExp } from "./glob.ts";
 * assert.ok(globToRegExp("resnet*").test("resnet50"));
 * assert.ok(globToRegExp("vgg1?").test("vgg11") && !globToRegExp("vgg1?").test("vgg11_bn"));
 * assert.ok(!globToRegExp("a.b").test("axb"));
 * ```
 */
export function globToRegExp(glob: string): RegExp {
  const body = [...glob].map((ch) =>
    ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&")
  ).join("");
  return new RegExp(`^${body}$`);
}
