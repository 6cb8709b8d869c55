// Checks shared by the models in this folder. Private to lib/models/.
import type { tf } from "../deps.ts";

/** Throws a RangeError naming both shapes when `images` is not `[n, h, w, c]` of the model's size. */
export function assertImageShape(
  modelName: string,
  inputShape: readonly [number, number, number],
  images: tf.Tensor,
): void {
  const [h, w, c] = inputShape;
  if (
    images.rank !== 4 || images.shape[1] !== h || images.shape[2] !== w || images.shape[3] !== c
  ) {
    throw new RangeError(
      `${modelName} expects images of shape [n, ${h}, ${w}, ${c}], got [${
        images.shape.join(", ")
      }]`,
    );
  }
}
