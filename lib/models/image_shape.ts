/**
 * The check every model, loss and explainer makes of its input images.
 *
 * @module
 */
import type { tf } from "../deps.ts";

/**
 * Throws a RangeError unless `images` is `[n, h, w, c]` with the model's
 * input shape; the message starts with `who` and names both shapes.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { assertImageShape } from "./image_shape.ts";
 * import { tf } from "../deps.ts";
 * const x = tf.zeros([2, 8, 8, 1]);
 * assert.throws(() => assertImageShape("myLoss", [8, 8, 3], x), {
 *   name: "RangeError",
 *   message: 'myLoss: "images" must have shape [n, 8, 8, 3] for this model, got [2, 8, 8, 1]',
 * });
 * assertImageShape("myLoss", [8, 8, 1], x); // the right shape passes
 * x.dispose();
 * ```
 */
export function assertImageShape(
  who: string,
  inputShape: readonly [number, number, number],
  images: tf.Tensor,
): void {
  const [h, w, c] = inputShape;
  if (
    images.rank !== 4 || images.shape[1] !== h || images.shape[2] !== w || images.shape[3] !== c
  ) {
    throw new RangeError(
      `${who}: "images" must have shape [n, ${h}, ${w}, ${c}] for this model, got [${
        images.shape.join(", ")
      }]`,
    );
  }
}
