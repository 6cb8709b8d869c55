/**
 * Gradient checkpointing: run a block without keeping its activations, and
 * run it again in the backward pass.
 *
 * @module
 */
import { tf } from "../deps.ts";

/**
 * Whether a forward pass with `checkpoint` on should recompute its blocks:
 * only under one gradient tape (a plain training step). Nested gradients
 * (input-gradient losses, GAIN) differentiate the backward pass itself, which
 * a recomputing block cannot offer, so they keep the plain path.
 */
export function checkpointActive(checkpoint: boolean | "input" | undefined): boolean {
  if (!checkpoint) return false;
  const engine = tf.engine();
  return engine.isTapeOn() && engine.state.gradientDepth === 1;
}

/**
 * Applies `f` to `x` as one op on the gradient tape that keeps only `x`:
 * the activations inside `f` are freed at once, and the backward pass runs
 * `f` again under its own tape to get the gradients of `x` and of
 * `variables` (the trainable weights `f` reads). Peak memory of a training
 * step then holds one tensor per block instead of every activation inside it,
 * for the price of one more forward pass per block.
 *
 * `f` must compute the same function both times: `f(x, true)` is the
 * recomputation, where batch norm must not update its running statistics
 * again (pass `updateStats: false`) and randomness must repeat. Pass
 * `inputGradient: false` where nothing needs the gradient of `x` (the
 * images): the backward pass then skips it and gives zeros.
 *
 * Outside a single gradient tape it is `f(x, false)`. The caller owns the
 * result.
 *
 * @example Gradients equal those of the plain function
 * ```ts
 * import assert from "node:assert";
 * import { checkpointed } from "./checkpoint.ts";
 * import { tf } from "../deps.ts";
 * const w = tf.variable(tf.tensor1d([0.5, -2]));
 * const x = tf.tensor2d([[1, 2], [3, 4]]);
 * const f = (t: tf.Tensor) => tf.relu(tf.mul(t, w));
 * const plain = tf.variableGrads(() => tf.sum(tf.square(f(x))) as tf.Scalar, [w]);
 * const again = tf.variableGrads(
 *   () => tf.sum(tf.square(checkpointed(f, x, [w]))) as tf.Scalar,
 *   [w],
 * );
 * assert.deepStrictEqual(
 *   again.grads[w.name].arraySync(),
 *   plain.grads[w.name].arraySync(),
 * );
 * tf.dispose([w, x, plain.value, again.value, plain.grads[w.name], again.grads[w.name]]);
 * ```
 */
export function checkpointed<T extends tf.Tensor>(
  f: (x: T, recompute: boolean) => T,
  x: T,
  variables: readonly tf.Variable[],
  options: { inputGradient?: boolean } = {},
): T {
  const engine = tf.engine();
  if (!(engine.isTapeOn() && engine.state.gradientDepth === 1)) return f(x, false);
  const weights = variables.filter((v) => v.trainable);
  const inputGradient = options.inputGradient ?? true;
  const op = tf.customGrad(
    ((...args: unknown[]) => {
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const input = args[0] as T;
      save([input]);
      return {
        value: f(input, false),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const xs = saved[0] as T;
          const wrt: tf.Tensor[] = inputGradient ? [xs, ...weights] : [...weights];
          // engine.gradients() at depth 0 replaces the tape that the outer
          // backward pass is still walking and clears it when done; hand it
          // back, so the outer pass frees its saved tensors.
          const outer = engine.state.activeTape;
          let grads: tf.Tensor[];
          try {
            grads = engine.gradients(() => f(xs, true), wrt, dy as tf.Tensor, true).grads;
          } finally {
            engine.state.activeTape = outer;
          }
          const out = wrt.map((t, i) => grads[i] ?? tf.zerosLike(t));
          return inputGradient ? out : [tf.zerosLike(xs), ...out];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return (op as unknown as (...t: tf.Tensor[]) => T)(x, ...weights);
}
