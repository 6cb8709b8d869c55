/**
 * Optimisers and learning-rate schedules.
 *
 * {@linkcode createOptimizer} makes Adam or SGD with momentum, both with
 * weight decay. They are our own subclasses of `tf.Optimizer` rather than
 * `tf.train.adam` and `tf.train.momentum`, for three reasons found in the
 * tfjs 4.22 sources:
 * - tfjs keeps each moment slot by the variable's *position* in the
 *   gradient map, not by the variable, so freezing or unfreezing a stage
 *   mid-run silently pairs moments with the wrong weights. Ours keep slots
 *   by variable name, and count Adam's bias-correction steps per variable.
 * - tfjs has no weight decay.
 * - `tf.train.sgd` and `tf.train.momentum` ignore a new `learningRate` field
 *   (they cache `−lr` in a tensor); only their `setLearningRate()` works.
 *   {@linkcode setLearningRate} does the right thing for every kind.
 *
 * @module
 */
import { tf } from "../deps.ts";

/** A tensor with a name, as tfjs's `Optimizer.getWeights()` lists them. */
export interface NamedTensor {
  /** `iter`, or `<variable name>/<slot>`. */
  name: string;
  /** The value. */
  tensor: tf.Tensor;
}

/** The optimisers {@linkcode createOptimizer} makes. */
export type OptimizerName = "adam" | "sgd";

/** How weight decay is applied. */
export type WeightDecayMode = "decoupled" | "l2";

/** Options of {@linkcode createOptimizer}. */
export interface OptimizerOptions {
  /** `"adam"` (Kingma & Ba 2015) or `"sgd"` (with momentum). @default {"adam"} */
  name?: OptimizerName;
  /** The learning rate; a schedule may change it between steps. @default {0.001} */
  lr?: number;
  /** SGD's momentum, in [0, 1); 0 is plain SGD. Ignored by Adam. @default {0.9} */
  momentum?: number;
  /** SGD only: Nesterov momentum. @default {false} */
  nesterov?: boolean;
  /** Adam's decay rate of the first moment, in [0, 1). @default {0.9} */
  beta1?: number;
  /** Adam's decay rate of the second moment, in [0, 1). @default {0.999} */
  beta2?: number;
  /** Adam's term added to the root of the second moment. @default {1e-8} */
  epsilon?: number;
  /**
   * Weight decay factor `λ`, applied to every variable that gets a gradient
   * (biases and batch-norm scales included).
   *
   * @default {0}
   */
  weightDecay?: number;
  /**
   * `"decoupled"`: after the update, `w ← w − lr·λ·w` (AdamW, Loshchilov &
   * Hutter 2019); the decay does not pass through Adam's normalisation.
   * `"l2"`: `λ·w` is added to the gradient before the update, as an L2
   * penalty `λ/2·‖w‖²` in the loss would; under Adam its effect is divided
   * by the gradient's running scale. For SGD without momentum both are the
   * same; with momentum, `"l2"` is what PyTorch's `SGD(weight_decay=…)` does.
   *
   * @default {"decoupled" for Adam, "l2" for SGD}
   */
  weightDecayMode?: WeightDecayMode;
}

/** Every option of {@linkcode OptimizerOptions}, resolved. */
export type ResolvedOptimizerOptions = Required<OptimizerOptions>;

interface Slots {
  /** Updates applied to this variable, for Adam's bias correction. */
  step: number;
  /** Adam: `m` and `v`; SGD with momentum: `momentum`. */
  slots: Map<string, tf.Variable>;
}

/**
 * Adam or SGD with momentum, with weight decay, as a `tf.Optimizer`: it can
 * be passed to {@linkcode createTrainStep} or used with `minimize()`. Its
 * state is kept per variable name, so the set of variables that get
 * gradients may change between steps (stages frozen or unfrozen).
 *
 * `learningRate` is a plain field; set it between steps (or call
 * {@linkcode setLearningRate}).
 *
 * `getWeights()` returns *copies* of the state that the caller disposes, named
 * `iter`, then `<variable name>/step`, `<variable name>/m`, … for each
 * variable with state. `setWeights()` replaces the whole state with copies
 * of the given tensors (the caller keeps and disposes its own).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { TrainOptimizer } from "./optim.ts";
 * import { tf } from "../deps.ts";
 * const w = tf.variable(tf.scalar(2));
 * const opt = new TrainOptimizer({ name: "sgd", lr: 0.1, momentum: 0 });
 * opt.minimize(() => tf.mul(w, 3) as tf.Scalar);
 * assert.ok(Math.abs(w.dataSync()[0] - 1.7) < 1e-6); // 2 − 0.1 · 3
 * opt.dispose();
 * w.dispose();
 * ```
 */
export class TrainOptimizer extends tf.Optimizer {
  /** The learning rate of the next step. */
  learningRate: number;
  /** The options, every default filled in. */
  readonly options: Readonly<ResolvedOptimizerOptions>;
  #state = new Map<string, Slots>();

  /** The class name tfjs's serialisation uses. */
  static get className(): string {
    return "SaliencyLabOptimizer";
  }

  /** Creates the optimiser; see {@linkcode createOptimizer} for the checks. */
  constructor(options: OptimizerOptions = {}) {
    super();
    this.options = resolveOptimizerOptions(options);
    this.learningRate = this.options.lr;
  }

  /** Applies one update to every variable named in `variableGradients` (null gradients are skipped). */
  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list: [string, tf.Tensor | null][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients);
    const o = this.options;
    // One scope per variable: a scope around the loop would hold every
    // variable's temporaries until the end (0.65 GB for ResNet-18 with Adam).
    for (const [name, gradient] of list) {
      if (gradient === null || gradient === undefined) continue;
      const lr = this.learningRate * (this.#lrScales.get(name) ?? 1);
      tf.tidy(() => {
        const variable = registeredVariable(name);
        const state = this.#slotsFor(name, variable);
        state.step += 1;
        let g: tf.Tensor = gradient;
        if (o.weightDecay > 0 && o.weightDecayMode === "l2") {
          g = tf.add(g, tf.mul(variable, o.weightDecay));
        }
        let update: tf.Tensor;
        if (o.name === "adam") {
          const m = state.slots.get("m")!, v = state.slots.get("v")!;
          const newM = tf.add(tf.mul(m, o.beta1), tf.mul(g, 1 - o.beta1));
          const newV = tf.add(tf.mul(v, o.beta2), tf.mul(tf.square(g), 1 - o.beta2));
          m.assign(newM);
          v.assign(newV);
          const mHat = tf.div(newM, 1 - o.beta1 ** state.step);
          const vHat = tf.div(newV, 1 - o.beta2 ** state.step);
          update = tf.div(mHat, tf.add(tf.sqrt(vHat), o.epsilon));
        } else if (o.momentum > 0) {
          const buffer = state.slots.get("momentum")!;
          const newBuffer = tf.add(tf.mul(buffer, o.momentum), g);
          buffer.assign(newBuffer);
          update = o.nesterov ? tf.add(g, tf.mul(newBuffer, o.momentum)) : newBuffer;
        } else {
          update = g;
        }
        let next = tf.sub(variable, tf.mul(update, lr));
        if (o.weightDecay > 0 && o.weightDecayMode === "decoupled") {
          next = tf.sub(next, tf.mul(variable, lr * o.weightDecay));
        }
        variable.assign(next);
      });
    }
    this.incrementIterations();
  }

  #lrScales = new Map<string, number>();

  /**
   * Multiplies the learning rate of `variables` by `scale` from the next
   * update on (1 restores it): a smaller rate for a pretrained backbone
   * than for fresh heads, say.
   */
  setLrScale(variables: readonly tf.Variable[], scale: number): void {
    if (!(Number.isFinite(scale) && scale >= 0)) {
      throw new RangeError(`A learning-rate scale must be a finite number ≥ 0, got ${scale}`);
    }
    for (const v of variables) {
      if (scale === 1) this.#lrScales.delete(v.name);
      else this.#lrScales.set(v.name, scale);
    }
  }

  #slotsFor(name: string, variable: tf.Variable): Slots {
    let state = this.#state.get(name);
    if (!state) {
      const names = this.options.name === "adam"
        ? ["m", "v"]
        : this.options.momentum > 0
        ? ["momentum"]
        : [];
      state = {
        step: 0,
        slots: new Map(names.map((s) => [s, tf.variable(tf.zerosLike(variable), false)])),
      };
      this.#state.set(name, state);
    }
    return state;
  }

  /** The names of the variables this optimiser holds state for. */
  stateVariableNames(): string[] {
    return [...this.#state.keys()];
  }

  /** Copies of the state; the caller disposes every tensor. */
  override getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [{ name: "iter", tensor: tf.scalar(this.iterations, "int32") }];
    for (const [name, state] of this.#state) {
      out.push({ name: `${name}/step`, tensor: tf.scalar(state.step, "int32") });
      for (const [slot, v] of state.slots) {
        out.push({ name: `${name}/${slot}`, tensor: tf.clone(v) });
      }
    }
    return Promise.resolve(out);
  }

  /**
   * Replaces the state with copies of `weightValues` (as `getWeights()`
   * gives them). Every name must refer to a live variable of the right
   * shape and to a slot this kind of optimiser has; on any error the state
   * is left as it was.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const slotNames = this.options.name === "adam"
      ? ["m", "v"]
      : this.options.momentum > 0
      ? ["momentum"]
      : [];
    let iterations = 0;
    const steps = new Map<string, number>();
    const slots = new Map<string, Map<string, tf.Tensor>>();
    for (const { name, tensor } of weightValues) {
      if (name === "iter") {
        iterations = (await tensor.data())[0];
        continue;
      }
      const cut = name.lastIndexOf("/");
      const variableName = name.slice(0, cut), slot = name.slice(cut + 1);
      const variable = cut > 0 ? tf.engine().registeredVariables[variableName] : undefined;
      if (!variable) {
        throw new RangeError(
          `Cannot set optimizer state "${name}": no variable named "${variableName}"`,
        );
      }
      if (slot === "step") {
        steps.set(variableName, (await tensor.data())[0]);
        continue;
      }
      if (!slotNames.includes(slot)) {
        throw new RangeError(
          `Cannot set optimizer state "${name}": a ${this.#describe()} has slots ${
            slotNames.length ? slotNames.map((s) => `"${s}"`).join(", ") : "none"
          }, not "${slot}"`,
        );
      }
      if (tensor.shape.join() !== variable.shape.join()) {
        throw new RangeError(
          `Cannot set optimizer state "${name}": shape [${tensor.shape}] does not match its variable's [${variable.shape}]`,
        );
      }
      if (!slots.has(variableName)) slots.set(variableName, new Map());
      slots.get(variableName)!.set(slot, tensor);
    }
    for (const [variableName, got] of slots) {
      const missing = slotNames.filter((s) => !got.has(s));
      if (missing.length) {
        throw new RangeError(
          `Cannot set optimizer state of variable "${variableName}": slot "${
            missing[0]
          }" is missing`,
        );
      }
    }
    this.#disposeState();
    const names = new Set([...steps.keys(), ...slots.keys()]);
    for (const variableName of names) {
      const got = slots.get(variableName) ?? new Map<string, tf.Tensor>();
      const variable = tf.engine().registeredVariables[variableName];
      this.#state.set(variableName, {
        step: steps.get(variableName) ?? 0,
        slots: new Map(
          slotNames.map((s) => [
            s,
            tf.tidy(() => tf.variable(got.get(s) ?? tf.zerosLike(variable), false)),
          ]),
        ),
      });
    }
    this.iterations_ = iterations;
  }

  /** The resolved options, for serialisation. */
  getConfig(): tf.serialization.ConfigDict {
    return { ...this.options };
  }

  /** Frees the optimiser's state. */
  override dispose(): void {
    this.#disposeState();
  }

  #disposeState(): void {
    for (const state of this.#state.values()) tf.dispose([...state.slots.values()]);
    this.#state.clear();
  }

  #describe(): string {
    return this.options.name === "adam" ? "Adam optimizer" : "SGD optimizer";
  }
}

function registeredVariable(name: string): tf.Variable {
  const variable = tf.engine().registeredVariables[name];
  if (!variable) {
    throw new RangeError(`Cannot apply a gradient to variable "${name}": no such variable`);
  }
  return variable;
}

/**
 * Every option of an optimiser with its default filled in, checked: what a
 * run record writes. A bad option throws, naming it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { resolveOptimizerOptions } from "./optim.ts";
 * const o = resolveOptimizerOptions({ name: "sgd", lr: 0.1 });
 * assert.equal(o.momentum, 0.9);
 * assert.equal(o.weightDecayMode, "l2");
 * assert.throws(() => resolveOptimizerOptions({ lr: -1 }), /"lr"/);
 * ```
 */
export function resolveOptimizerOptions(options: OptimizerOptions): ResolvedOptimizerOptions {
  const name = options.name ?? "adam";
  if (name !== "adam" && name !== "sgd") {
    throw new RangeError(`Option "name" must be "adam" or "sgd", got ${JSON.stringify(name)}`);
  }
  const resolved: ResolvedOptimizerOptions = {
    name,
    lr: options.lr ?? 1e-3,
    momentum: options.momentum ?? 0.9,
    nesterov: options.nesterov ?? false,
    beta1: options.beta1 ?? 0.9,
    beta2: options.beta2 ?? 0.999,
    epsilon: options.epsilon ?? 1e-8,
    weightDecay: options.weightDecay ?? 0,
    weightDecayMode: options.weightDecayMode ?? (name === "adam" ? "decoupled" : "l2"),
  };
  const check = (field: keyof OptimizerOptions, ok: boolean, range: string) => {
    if (!ok) {
      throw new RangeError(`Option "${field}" must be ${range}, got ${resolved[field]}`);
    }
  };
  check("lr", Number.isFinite(resolved.lr) && resolved.lr >= 0, "a finite number of at least 0");
  check("momentum", resolved.momentum >= 0 && resolved.momentum < 1, "in [0, 1)");
  check("beta1", resolved.beta1 >= 0 && resolved.beta1 < 1, "in [0, 1)");
  check("beta2", resolved.beta2 >= 0 && resolved.beta2 < 1, "in [0, 1)");
  check("epsilon", resolved.epsilon > 0, "positive");
  check(
    "weightDecay",
    Number.isFinite(resolved.weightDecay) && resolved.weightDecay >= 0,
    "a finite number of at least 0",
  );
  if (resolved.weightDecayMode !== "decoupled" && resolved.weightDecayMode !== "l2") {
    throw new RangeError(
      `Option "weightDecayMode" must be "decoupled" or "l2", got ${
        JSON.stringify(resolved.weightDecayMode)
      }`,
    );
  }
  return resolved;
}

/**
 * Makes an Adam or SGD-with-momentum optimiser with weight decay (see
 * {@linkcode OptimizerOptions} for how decay is applied). The caller
 * disposes it.
 *
 * Adam: `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
 * `w ← w − lr·m̂/(√v̂ + ε)` with `m̂ = m/(1−β1^t)`, `v̂ = v/(1−β2^t)`, where
 * `t` counts this variable's updates. SGD: `b ← μ·b + g`, `w ← w − lr·b`
 * (Nesterov: `w ← w − lr·(g + μ·b)`), as in PyTorch.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createOptimizer } from "./optim.ts";
 * import { tf } from "../deps.ts";
 * const w = tf.variable(tf.scalar(2));
 * const adamw = createOptimizer({ name: "adam", lr: 0.1, weightDecay: 0.5 });
 * adamw.minimize(() => tf.mul(w, 3) as tf.Scalar);
 * // Adam's first step moves by lr; decoupled decay takes lr·λ·w more.
 * assert.ok(Math.abs(w.dataSync()[0] - (2 - 0.1 - 0.1 * 0.5 * 2)) < 1e-5);
 * adamw.dispose();
 * w.dispose();
 * ```
 */
export function createOptimizer(options: OptimizerOptions = {}): TrainOptimizer {
  return new TrainOptimizer(options);
}

/**
 * Sets the learning rate of the next steps of any optimiser: ours (its
 * `learningRate` field), `tf.train.sgd` and `tf.train.momentum` (through
 * their `setLearningRate()`, since they ignore the field), and the other
 * tfjs optimisers (Adam, Adamax, Adagrad, Adadelta, RMSProp: the field,
 * which they read on every step).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { setLearningRate } from "./optim.ts";
 * import { tf } from "../deps.ts";
 * const w = tf.variable(tf.scalar(0));
 * const sgd = tf.train.sgd(1);
 * setLearningRate(sgd, 0.5);
 * sgd.minimize(() => w.mul(1) as tf.Scalar);
 * assert.equal(w.dataSync()[0], -0.5); // the step took the new rate, not 1
 * sgd.dispose();
 * w.dispose();
 * ```
 */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  if (!Number.isFinite(lr) || lr < 0) {
    throw new RangeError(`Cannot set the learning rate to ${lr}: expected a finite number >= 0`);
  }
  const o = optimizer as unknown as {
    learningRate?: unknown;
    setLearningRate?: (lr: number) => void;
  };
  if (typeof o.setLearningRate === "function") {
    o.setLearningRate(lr);
  } else if (typeof o.learningRate === "number") {
    o.learningRate = lr;
  } else {
    throw new TypeError(
      `Cannot set the learning rate of a ${optimizer.getClassName()} optimizer: it has no "learningRate" field`,
    );
  }
}

/** The learning-rate schedules of {@linkcode learningRateAt}. */
export type ScheduleName = "constant" | "cosine" | "step";

/** Options of {@linkcode learningRateAt}. */
export interface ScheduleOptions {
  /** The schedule after warm-up. @default {"constant"} */
  schedule?: ScheduleName;
  /** The peak learning rate. @default {0.001} */
  baseLr?: number;
  /**
   * Steps of linear warm-up: step `s < warmupSteps` gets
   * `baseLr·(s + 1)/warmupSteps`. Decay is counted from the end of warm-up.
   *
   * @default {0}
   */
  warmupSteps?: number;
  /** Cosine: the step at which the rate reaches `minLr` (it stays there after). Required for `"cosine"`. */
  totalSteps?: number;
  /** Cosine: the final learning rate. @default {0} */
  minLr?: number;
  /** Step: the rate is multiplied by `gamma` every `stepSize` steps. Required for `"step"`. */
  stepSize?: number;
  /** Step: the decay factor. @default {0.1} */
  gamma?: number;
}

/**
 * The learning rate of 0-based step `step`:
 * - warm-up (`step < warmupSteps`): `baseLr·(step + 1)/warmupSteps`;
 * - `"constant"`: `baseLr`;
 * - `"cosine"`: `minLr + (baseLr − minLr)·(1 + cos(π·t))/2` with
 *   `t = min(1, (step − warmupSteps)/(totalSteps − warmupSteps))`;
 * - `"step"`: `baseLr·gamma^⌊(step − warmupSteps)/stepSize⌋`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { learningRateAt } from "./optim.ts";
 * const options = { schedule: "cosine" as const, baseLr: 1, warmupSteps: 2, totalSteps: 6 };
 * assert.deepStrictEqual([0, 1, 2, 4, 6].map((s) => learningRateAt(s, options)), [0.5, 1, 1, 0.5, 0]);
 * ```
 */
export function learningRateAt(step: number, options: ScheduleOptions = {}): number {
  const schedule = options.schedule ?? "constant";
  const baseLr = options.baseLr ?? 1e-3;
  const warmup = options.warmupSteps ?? 0;
  if (!Number.isInteger(step) || step < 0) {
    throw new RangeError(
      `Cannot compute the learning rate of step ${step}: expected an integer >= 0`,
    );
  }
  if (!Number.isFinite(baseLr) || baseLr < 0) {
    throw new RangeError(`Option "baseLr" must be a finite number of at least 0, got ${baseLr}`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new RangeError(`Option "warmupSteps" must be an integer of at least 0, got ${warmup}`);
  }
  if (step < warmup) return (baseLr * (step + 1)) / warmup;
  const after = step - warmup;
  switch (schedule) {
    case "constant":
      return baseLr;
    case "cosine": {
      const total = options.totalSteps;
      const minLr = options.minLr ?? 0;
      if (total === undefined || !Number.isInteger(total) || total <= warmup) {
        throw new RangeError(
          `Option "totalSteps" must be an integer above "warmupSteps" (${warmup}) for the cosine schedule, got ${total}`,
        );
      }
      if (!(minLr >= 0 && minLr <= baseLr)) {
        throw new RangeError(`Option "minLr" must be in [0, baseLr = ${baseLr}], got ${minLr}`);
      }
      const t = Math.min(1, after / (total - warmup));
      return minLr + ((baseLr - minLr) * (1 + Math.cos(Math.PI * t))) / 2;
    }
    case "step": {
      const stepSize = options.stepSize;
      const gamma = options.gamma ?? 0.1;
      if (stepSize === undefined || !Number.isInteger(stepSize) || stepSize < 1) {
        throw new RangeError(
          `Option "stepSize" must be a positive integer for the step schedule, got ${stepSize}`,
        );
      }
      if (!(gamma > 0 && gamma <= 1)) {
        throw new RangeError(`Option "gamma" must be in (0, 1], got ${gamma}`);
      }
      return baseLr * gamma ** Math.floor(after / stepSize);
    }
    default:
      throw new RangeError(
        `Option "schedule" must be "constant", "cosine" or "step", got ${JSON.stringify(schedule)}`,
      );
  }
}
