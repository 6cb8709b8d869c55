// Loss-term names. Private to lib/train/.

const RESERVED_TERMS = new Set(["loss", "accuracy"]);

/** Checks that no term takes a reserved name; returns the names. */
export function checkTermNames(names: string[]): string[] {
  for (const name of names) {
    if (RESERVED_TERMS.has(name)) {
      throw new RangeError(
        `A loss term may not be named "${name}": "loss" is the total and "accuracy" a metric`,
      );
    }
  }
  return names;
}
