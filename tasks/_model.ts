// The model a task builds from its flags, pretrained weights and frozen stages included, and
// the memory flag of every task that trains.
// Shared by train, compare-gradcam, transfer and sweep.
import {
  createModelFromParts,
  fetchWeights,
  listBackbones,
  listSaliencyHeads,
  loadPretrained,
  ownSaliencyHead,
  type PretrainedReport,
  setTrainable,
  type TwoBranchModel,
} from "../mod.ts";
import { type FlagSpec, numberFlag, UsageError } from "./_cli.ts";

/** The flags of a pretrained start, in every task that trains. */
export const PRETRAINED_FLAGS: Record<string, FlagSpec> = {
  pretrained: {
    type: "string",
    default: "",
    help:
      "start from pretrained weights: a .safetensors or .pth file, torchvision:<arch> or hf:<repo>[@revision] (downloads are cached); the model then normalises its input as the weights expect (ImageNet's mean and std unless the source says); needs --width 1",
  },
  freeze: {
    type: "string",
    default: "",
    help: "stages to keep frozen: comma-separated stage names, or backbone",
  },
  "backbone-lr": {
    type: "string",
    default: "1",
    help:
      "multiplier of the learning rate for the backbone (0.1 fine-tunes a pretrained one gently)",
  },
  "micro-batch": {
    type: "string",
    default: "auto",
    help:
      "samples per micro-batch (gradients are accumulated over a batch), or auto: the whole batch when it fits the engine's memory, else checkpointed or split",
  },
};

/** The --micro-batch flag: a positive whole number, or "auto". */
export function parseMicroBatch(
  flags: Record<string, string | boolean | undefined>,
): number | "auto" {
  return flags["micro-batch"] === undefined || flags["micro-batch"] === "auto"
    ? "auto"
    : numberFlag(flags as Record<string, string | boolean>, "micro-batch", {
      integer: true,
      min: 1,
    });
}

/** The model flags every task that trains reads, checked. */
export interface ModelFlags {
  backbone: string;
  head: string;
  width: number;
  /** The --pretrained source, or "". */
  pretrained: string;
  /** Stages to freeze, or ["backbone"]. */
  freeze: string[];
  backboneLr: number;
}

/** The --gate choices: `none`, or how an attention head gates the classifier. */
export const GATES: readonly string[] = ["none", "residual", "multiplicative"];

/** The --gate flag. */
export const GATE_FLAG: FlagSpec = {
  type: "string",
  default: "none",
  help:
    "how an attention --head gates the classifier: none, residual (features·(1+map)) or multiplicative (features·map)",
};

/** --head and --gate, checked against the registry and each other; the gate is null for none. */
export function headFlags(
  flags: Record<string, string | boolean>,
): { head: string; gate: string | null } {
  const head = String(flags.head);
  if (!listSaliencyHeads().includes(head)) {
    throw new UsageError(
      `Flag --head must be one of ${listSaliencyHeads().join(", ")}; got "${head}"`,
    );
  }
  const gate = String(flags.gate ?? "none");
  if (!GATES.includes(gate)) {
    throw new UsageError(`Flag --gate must be ${GATES.join(", ")}; got "${gate}"`);
  }
  if (gate !== "none" && head !== "attention") {
    throw new UsageError(`Flag --gate ${gate} needs --head attention (got --head ${head})`);
  }
  return { head, gate: gate === "none" ? null : gate };
}

/** --backbone, checked against the registry. */
export function backboneFlag(flags: Record<string, string | boolean>): string {
  const backbone = String(flags.backbone);
  if (!listBackbones().includes(backbone)) {
    throw new UsageError(
      `Flag --backbone must be one of ${listBackbones().join(", ")}; got "${backbone}"`,
    );
  }
  return backbone;
}

/**
 * The model flags every task that trains reads: --backbone and --head
 * (checked against the registries), --width, --pretrained, --freeze and
 * --backbone-lr.
 */
export function modelFlags(flags: Record<string, string | boolean>): ModelFlags {
  const backbone = backboneFlag(flags);
  const head = String(flags.head);
  if (!listSaliencyHeads().includes(head)) {
    throw new UsageError(
      `Flag --head must be one of ${listSaliencyHeads().join(", ")}; got "${head}"`,
    );
  }
  return {
    backbone,
    head,
    width: numberFlag(flags, "width", { min: 0.01 }),
    pretrained: String(flags.pretrained ?? ""),
    freeze: parseFreeze(flags.freeze),
    backboneLr: numberFlag(flags, "backbone-lr", { min: 0 }),
  };
}

/** What a task's flags say about its model. */
export interface ModelSpec {
  /** A registered backbone. */
  backbone: string;
  /** The saliency head (a backbone with a whole model of its own ignores it). @default {"cam"} */
  head?: string;
  /** The attention head's gate (`--gate`), or null / absent for none. */
  gate?: string | null;
  width: number;
  size: number;
  dropout?: number;
  /** The --pretrained source, or "". */
  pretrained: string;
  /** Stages to freeze, or ["backbone"]. */
  freeze: readonly string[];
}

/** The --freeze flag as a list of stages. */
export function parseFreeze(value: unknown): string[] {
  return String(value ?? "").split(",").map((v) => v.trim()).filter((v) => v);
}

/**
 * Builds the model `spec` describes with `numClasses` classes and `seed`:
 * from `spec.pretrained` (the model then normalises its input as the
 * weights expect) and with `spec.freeze` frozen. The caller disposes it.
 */
export async function buildModel(
  spec: ModelSpec,
  numClasses: number,
  seed: number,
): Promise<{ model: TwoBranchModel; pretrained: PretrainedReport | null }> {
  if (spec.pretrained && ownSaliencyHead(spec.backbone) !== undefined) {
    throw new UsageError(
      `Flag --pretrained needs a torchvision-shaped --backbone (resnet18, resnet50, …), not ${spec.backbone}`,
    );
  }
  // The weights' own input normalisation, where the source says; ImageNet's otherwise.
  const fetched = spec.pretrained ? await fetchWeights(spec.pretrained) : null;
  const norm = fetched?.preprocessing;
  const model = createModelFromParts({
    backbone: spec.backbone,
    saliencyHead: spec.head,
    ...(spec.gate ? { headOptions: { gate: spec.gate } } : {}),
    width: spec.width,
    numClasses,
    inputSize: spec.size,
    dropout: spec.dropout,
    seed,
    ...(fetched ? { inputNorm: norm ? { mean: norm.mean, std: norm.std } : "imagenet" } : {}),
  });
  try {
    const pretrained = spec.pretrained ? await loadPretrained(model, spec.pretrained) : null;
    return { model: freeze(model, spec), pretrained };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

function freeze(model: TwoBranchModel, spec: ModelSpec): TwoBranchModel {
  if (spec.freeze.length > 0) {
    setTrainable(model, {
      freeze: spec.freeze.length === 1 && spec.freeze[0] === "backbone" ? "backbone" : spec.freeze,
    });
  }
  return model;
}

/** A pretrained start as results.json records it. */
export function pretrainedRecord(report: PretrainedReport | null): Record<string, unknown> | null {
  return report
    ? {
      source: report.source,
      sha256: report.sha256,
      naming: report.naming,
      loaded: report.loaded.length,
      missing: report.missing,
      skipped: report.skipped,
    }
    : null;
}

/** One line on standard error saying what was loaded. */
export function sayPretrained(report: PretrainedReport | null): void {
  if (!report) return;
  console.error(
    `pretrained: ${report.loaded.length} tensors from ${report.source} (sha256 ${
      report.sha256.slice(0, 12)
    }…), ${report.missing.length} left fresh` +
      (report.skipped.length ? `, ${report.skipped.length} skipped` : ""),
  );
}
