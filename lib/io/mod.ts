/**
 * Input and output: images and masks through sharp, PNG writing, a reader
 * for MATLAB v5 files, readers of weights files (safetensors, with a
 * writer, and PyTorch's `torch.save` state dicts), and the fetching of
 * pretrained weights into a cache. The weights readers, the fetcher and the
 * MAT-file reader never load sharp, so the core may use them.
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
