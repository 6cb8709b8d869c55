/**
 * The base of every layer and model: a tree of named variables.
 *
 * @module
 */
import { tf } from "../deps.ts";

/** Options shared by every forward pass. */
export interface ApplyOptions {
  /**
   * Training mode: batch norm uses batch statistics (and updates its running
   * statistics unless `updateStats` is false), dropout is active.
   *
   * @default {false}
   */
  training?: boolean;
  /**
   * In training mode, whether batch norm updates its running statistics.
   * Turn it off for extra passes that must not disturb them (GAIN's erased
   * image, for one).
   *
   * @default {true}
   */
  updateStats?: boolean;
  /**
   * In inference mode, fold each batch norm into the convolution before it
   * (one fused kernel; the same values up to float rounding). `false` runs
   * the convolution and batch norm as separate ops.
   *
   * @default {true}
   */
  foldBatchNorm?: boolean;
  /**
   * Gradient checkpointing: under a single gradient tape (a plain training
   * step), each backbone block keeps only its input and runs again in the
   * backward pass (`checkpointed`), so a step holds about one
   * activation per block instead of every one inside it, for about one more
   * forward pass of compute. `true` spares the images their gradient (a
   * training step needs none); `"input"` computes it too (input-gradient
   * explainers). Ignored without a tape and under nested gradients
   * (input-gradient losses), which take the plain path.
   *
   * @default {false}
   */
  checkpoint?: boolean | "input";
  /**
   * Nothing takes the weights' gradient (an explainer differentiates only
   * the input): in inference mode the convolutions then use their kept
   * batch-norm-folded kernels under a gradient tape too, instead of folding
   * afresh so that gradients could reach the weights.
   *
   * @default {false}
   */
  frozenWeights?: boolean;
}

/**
 * A node in a tree of named variables, as in PyTorch's `nn.Module`. Layers
 * add their weights with {@linkcode Module.addWeight} and their sub-layers
 * with {@linkcode Module.addChild}; the model then lists every variable by
 * its path (`block1/conv1/kernel`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { Module } from "./module.ts";
 * import { tf } from "../deps.ts";
 * class Scale extends Module {
 *   readonly factor = this.addWeight("factor", tf.ones([1]));
 * }
 * const s = new Scale("scale");
 * assert.deepStrictEqual([...s.variables().keys()], ["scale/factor"]);
 * assert.equal(s.countParams(), 1);
 * s.dispose();
 * ```
 */
export class Module {
  /** This module's name, the last part of its variables' paths. */
  readonly name: string;
  #weights = new Map<string, tf.Variable>();
  #children: Module[] = [];

  /** Creates an empty module called `name`. */
  constructor(name: string) {
    this.name = name;
  }

  /**
   * Adds a variable initialised from `initial`, which it takes ownership of
   * (and disposes).
   */
  protected addWeight(name: string, initial: tf.Tensor, trainable = true): tf.Variable {
    if (this.#weights.has(name)) {
      throw new TypeError(`Module "${this.name}" already has a weight named "${name}"`);
    }
    const v = tf.variable(initial, trainable);
    initial.dispose();
    this.#weights.set(name, v);
    return v;
  }

  /** Adds a sub-module and returns it. */
  protected addChild<M extends Module>(child: M): M {
    if (this.#children.some((c) => c.name === child.name)) {
      throw new TypeError(`Module "${this.name}" already has a child named "${child.name}"`);
    }
    this.#children.push(child);
    return child;
  }

  /** Every variable below this module, by path. */
  variables(prefix = ""): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    const path = prefix ? `${prefix}/${this.name}` : this.name;
    for (const [name, v] of this.#weights) out.set(`${path}/${name}`, v);
    for (const child of this.#children) {
      for (const [name, v] of child.variables(path)) out.set(name, v);
    }
    return out;
  }

  /** The trainable variables below this module. */
  trainableVariables(): tf.Variable[] {
    return [...this.variables().values()].filter((v) => v.trainable);
  }

  /** The number of trainable parameters. */
  countParams(): number {
    return this.trainableVariables().reduce((n, v) => n + v.size, 0);
  }

  /** Disposes every variable below this module (and what each child keeps besides). */
  dispose(): void {
    for (const v of this.#weights.values()) v.dispose();
    for (const child of this.#children) child.dispose();
  }
}
