/**
 * The registry of model architectures, so that a saved model's config can
 * be built again.
 *
 * @module
 */
import type { ModelConfig, TwoBranchModel } from "./types.ts";

/** Builds a model from its config's options. */
export type ArchitectureFactory = (config: ModelConfig) => TwoBranchModel;

const architectures = new Map<string, ArchitectureFactory>();

/**
 * Registers `factory` under `name`; `createModel({ architecture: name, … })`
 * then calls it. Registering a taken name throws.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { listArchitectures, registerArchitecture } from "./registry.ts";
 * import { createReferenceNet } from "./reference_net.ts";
 * const tiny = () => createReferenceNet({ inputSize: 8, width: 0.125 });
 * registerArchitecture("tiny", tiny);
 * assert.ok(listArchitectures().includes("tiny"));
 * assert.throws(() => registerArchitecture("tiny", tiny), TypeError); // the name is taken
 * ```
 */
export function registerArchitecture(name: string, factory: ArchitectureFactory): void {
  if (architectures.has(name)) {
    throw new TypeError(
      `Cannot register architecture "${name}": the name is taken; choose another`,
    );
  }
  architectures.set(name, factory);
}

/**
 * The registered architecture names, sorted.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { listArchitectures } from "./registry.ts";
 * import "./reference_net.ts";
 * const names = listArchitectures();
 * assert.ok(names.includes("reference"));
 * assert.deepStrictEqual(names, [...names].sort());
 * ```
 */
export function listArchitectures(): string[] {
  return [...architectures.keys()].sort();
}

/**
 * Builds the model a config describes. An unknown architecture fails with
 * the registered names. The caller disposes the model.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert";
 * import { createModel } from "./registry.ts";
 * import { createReferenceNet } from "./reference_net.ts";
 * const a = createReferenceNet({ inputSize: 8, width: 0.125, numClasses: 2 });
 * const b = createModel(a.config);
 * assert.equal(b.countParams(), a.countParams());
 * assert.deepStrictEqual(b.config, a.config);
 * assert.throws(() => createModel({ architecture: "no-such-net" }), /expected one of .*reference/);
 * a.dispose();
 * b.dispose();
 * ```
 */
export function createModel(config: ModelConfig): TwoBranchModel {
  const factory = architectures.get(config?.architecture);
  if (!factory) {
    throw new TypeError(
      `Unknown model architecture "${config?.architecture}": expected one of ${
        listArchitectures().join(", ")
      }`,
    );
  }
  return factory(config);
}
