/**
 * Input and output: images and masks through sharp, PNG writing, a reader
 * for MATLAB v5 files, and readers of weights files (safetensors, with a
 * writer, and PyTorch's `torch.save` state dicts). The weights readers and
 * the MAT-file reader are plain parsers: they never load sharp.
 *
 * @module
 */
export * from "./png.ts";
export * from "./image.ts";
export * from "./mat5.ts";
export * from "./stored_tensor.ts";
export * from "./safetensors.ts";
export * from "./pth.ts";
export * from "./weights_source.ts";
