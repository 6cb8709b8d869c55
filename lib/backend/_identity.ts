// Identity for wasm. The engine's kernel copies the data; the tfjs engine
// runs Identity for every tensor it saves for a backward pass (`clone`), so
// under a gradient tape every saved activation was copied once more: about
// 280 copies and 25–30 ms in a training step of the reference network.
// tfjs never writes into a tensor's data after it is made (a variable's
// `assign` swaps in new data), so the output can share the input's data
// and count one more reference, as the engine's own Reshape and the `cpu`
// engine's Identity do. Private to lib/backend/.
import type { tf } from "../deps.ts";

/** Wraps the engine's Identity so that it shares data instead of copying it. */
export function sharedIdentity(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === "string" || x.dtype === "complex64") return original.kernelFunc(args);
      (args.backend as tf.KernelBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  };
}

/**
 * Wraps the engine's Cast so that a cast to the tensor's own dtype shares
 * the data (tfjs's `moments` and many gradients cast float32 to float32).
 */
export function sharedCast(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
      if (dtype !== x.dtype || x.dtype === "string" || x.dtype === "complex64") {
        return original.kernelFunc(args);
      }
      (args.backend as tf.KernelBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  };
}
