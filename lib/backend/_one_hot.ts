// OneHot for wasm: the built-in kernel always writes int32 bits, whatever
// dtype is asked for, so a float32 one-hot reads as denormal garbage. We
// run it as int32 and cast. Private to lib/backend/.
import { tf } from "../deps.ts";

/** Wraps the engine's own OneHot kernel so that non-int32 dtypes are cast. */
export function fixedOneHot(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const dtype = (args.attrs as { dtype?: tf.DataType }).dtype ?? "int32";
      if (dtype === "int32") return original.kernelFunc(args);
      const asInt = original.kernelFunc({
        ...args,
        attrs: { ...args.attrs, dtype: "int32" },
      }) as tf.TensorInfo;
      const owned = tf.engine().makeTensorFromTensorInfo(asInt, args.backend as tf.KernelBackend);
      try {
        return tf.cast(owned, dtype);
      } finally {
        owned.dispose();
      }
    },
  };
}
