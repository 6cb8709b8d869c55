// Seeded weight initialisers. Private to lib/layers/.
import { tf } from "../deps.ts";
import { Random } from "../util/random.ts";

/** He (Kaiming) normal initialisation for ReLU networks: N(0, 2 / fanIn). */
export function heNormal(shape: number[], fanIn: number, seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(new Random(seed).normalArray(n, 0, Math.sqrt(2 / fanIn)), shape);
}

/** Glorot (Xavier) uniform initialisation, for layers not followed by ReLU. */
export function glorotUniform(
  shape: number[],
  fanIn: number,
  fanOut: number,
  seed: number,
): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return tf.tensor(new Random(seed).uniformArray(n, -limit, limit), shape);
}
