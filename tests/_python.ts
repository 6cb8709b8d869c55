// Runs Python snippets under Debian's /usr/bin/python3 (the one with PyTorch),
// for tests that check our readers against files written by Python.

/** The Python that has torch, where it is installed. */
export const PYTHON = "/usr/bin/python3";

/** Whether `PYTHON` runs and can import `module`. */
export async function pythonHas(module: string): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(PYTHON, {
      args: ["-c", `import ${module}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/**
 * Whether `PYTHON` can import `module`; when not, says on standard error
 * which tests are skipped and why.
 */
export async function requirePython(module: string, tests: string): Promise<boolean> {
  const ok = await pythonHas(module);
  if (!ok) console.error(`Skipping ${tests}: ${PYTHON} cannot import ${module}`);
  return ok;
}

/** Runs `script` with `args` (in `sys.argv[1:]`); throws with its stderr when it fails. */
export async function runPython(script: string, args: string[] = []): Promise<string> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(`Python failed (${out.code}): ${decoder.decode(out.stderr)}`);
  }
  return decoder.decode(out.stdout);
}
