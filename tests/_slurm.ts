// A real one-node Slurm cluster for tests: munged, slurmctld and slurmd run as child
// processes of the test, with every key, socket, conf, state, spool, pid and log file in one
// folder. Private to the tests.
//
// Layout of `dir` once started:
//   munge/munge.key munge/munge.socket munge/munged.{pid,seed}
//   slurm.conf state/ spool/ slurmctld.pid slurmd.pid
//   log/slurmctld.log log/slurmd.log        the daemons' own logs
//   log/{munged,slurmctld,slurmd}.stderr    what they printed (errors from before their log opens)
import { dirname, join, resolve } from "node:path";

const DAEMONS = ["munged", "slurmctld", "slurmd"] as const;
const CLIENTS = ["sbatch", "squeue", "scontrol", "scancel"] as const;
const SBIN_DIRS = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"];
/** How long a daemon gets between SIGTERM and SIGKILL, and after SIGKILL. */
const STOP_GRACE_MS = 5000;
const POLL_MS = 200;

/** The name of one of the three daemons. */
export type SlurmDaemon = typeof DAEMONS[number];

/** Options of {@linkcode startSlurmCluster}. */
export interface SlurmClusterOptions {
  /**
   * CPUs the node offers (one 1-CPU task per CPU runs at once). Slurm takes this from the
   * conf, not the hardware (SlurmdParameters=config_overrides), so it may exceed the cores.
   * @default navigator.hardwareConcurrency
   */
  cpus?: number;
  /**
   * How long to wait, in milliseconds, for the node to report idle.
   * @default 30000
   */
  readyTimeoutMs?: number;
}

/** One record of `scontrol show job`: an array task or a plain job. */
export interface SlurmJobState {
  /** The record's own job id. */
  jobId: string;
  /** The array task index, or null for a job that is not an array. */
  arrayTaskId: number | null;
  /** The job state, such as "COMPLETED", "FAILED", "RUNNING" or "PENDING". */
  state: string;
  /** The exit code as Slurm prints it, "status:signal" ("0:0", "3:0"). */
  exitCode: string;
}

/** What a Slurm client command printed and returned. */
export interface SlurmCommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

interface Daemon {
  name: SlurmDaemon;
  child: Deno.ChildProcess;
  pid: number;
  exited: boolean;
  stderrFile: string;
  logFile: string;
}

const toolCache = new Map<string, Promise<Map<string, string | null>>>();

/** Finds each tool on PATH or in the usual sbin folders; null where absent. Cached per PATH. */
function findTools(): Promise<Map<string, string | null>> {
  const pathVar = Deno.env.get("PATH") ?? "";
  const cached = toolCache.get(pathVar);
  if (cached) return cached;
  const search = (async () => {
    const dirs = [...pathVar.split(":").filter((d) => d), ...SBIN_DIRS];
    const found = new Map<string, string | null>();
    for (const name of [...DAEMONS, ...CLIENTS, "mungekey"]) {
      found.set(name, null);
      for (const d of dirs) {
        const path = join(d, name);
        const info = await Deno.stat(path).catch(() => null);
        if (info?.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) {
          found.set(name, path);
          break;
        }
      }
    }
    return found;
  })();
  toolCache.set(pathVar, search);
  return search;
}

/**
 * Null when this machine can run a test Slurm cluster (Linux, root, and the slurm-wlm and
 * munge programs installed); otherwise a one-line reason a skipped test can print.
 */
export async function slurmMissing(): Promise<string | null> {
  if (Deno.build.os !== "linux") return `Slurm tests need Linux, not ${Deno.build.os}`;
  const tools = await findTools();
  const lack = (names: readonly string[]) => names.filter((n) => !tools.get(n));
  const slurm = lack(["slurmctld", "slurmd", ...CLIENTS]);
  if (slurm.length > 0) {
    return `slurm-wlm is not installed (no ${slurm.join(", ")} on PATH or in /usr/sbin)`;
  }
  if (!tools.get("munged")) return "munge is not installed (no munged on PATH or in /usr/sbin)";
  if (Deno.uid() !== 0) {
    return `Slurm tests run the daemons as root, and this is uid ${Deno.uid()} (run as root)`;
  }
  return null;
}

/**
 * Starts munged, slurmctld and slurmd with all their state under `dir` (a fresh folder,
 * created if absent), on free ports, and waits until the node reports idle. The cluster has
 * one node named after `hostname -s` at 127.0.0.1 and one partition "debug". Callers pass
 * `cluster.env` to the Slurm commands they run and must call `stop()` (in a `finally`).
 */
export async function startSlurmCluster(
  dir: string,
  options: SlurmClusterOptions = {},
): Promise<SlurmCluster> {
  const cpus = options.cpus ?? navigator.hardwareConcurrency ?? 1;
  if (!Number.isInteger(cpus) || cpus < 1) {
    throw new RangeError(`Option cpus of startSlurmCluster() must be an integer >= 1, got ${cpus}`);
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  if (!(readyTimeoutMs > 0)) {
    throw new RangeError(
      `Option readyTimeoutMs of startSlurmCluster() must be > 0, got ${readyTimeoutMs}`,
    );
  }
  const missing = await slurmMissing();
  if (missing) throw new Error(`Cannot start a Slurm cluster: ${missing}`);
  const tools = await findTools();
  const tool = (name: string) => tools.get(name)!;

  dir = resolve(dir);
  await Deno.mkdir(join(dir, "log"), { recursive: true });
  const conf = join(dir, "slurm.conf");
  const clientDir = dirname(tool("sbatch"));
  const path = Deno.env.get("PATH") ?? "";
  const env: Record<string, string> = {
    SLURM_CONF: conf,
    PATH: path.split(":").includes(clientDir) ? path : `${clientDir}:${path}`,
  };
  const nodeName = shortHostname();
  const daemons: Daemon[] = [];
  // If the test process exits without stop(), SIGKILL the daemons rather than leave them.
  const guard = () => {
    for (const d of daemons) if (!d.exited) tryKill(d.pid, "SIGKILL");
  };
  globalThis.addEventListener("unload", guard);
  try {
    daemons.push(await startMunge(tool("munged"), tool("mungekey"), dir));
    // A port that was free when chosen can be taken before slurmctld binds it: then slurmctld
    // exits with "Address already in use", and we try again on other ports.
    for (let attempt = 1;; attempt++) {
      const [ctldPort, slurmdPort] = freePorts(2);
      for (const sub of ["state", "spool"]) {
        await Deno.remove(join(dir, sub), { recursive: true }).catch(() => {});
        await Deno.mkdir(join(dir, sub), { recursive: true });
      }
      await Deno.writeTextFile(conf, slurmConf({ dir, nodeName, cpus, ctldPort, slurmdPort }));
      const daemonEnv = { ...env };
      const ctld = spawnDaemon("slurmctld", tool("slurmctld"), ["-D"], dir, daemonEnv);
      daemons.push(ctld);
      const slurmd = spawnDaemon("slurmd", tool("slurmd"), ["-D", "-N", nodeName], dir, daemonEnv);
      daemons.push(slurmd);
      const failure = await waitForIdle(nodeName, env, tool("scontrol"), daemons, readyTimeoutMs);
      if (failure === null) break;
      const logs = await logTails(daemons);
      if (attempt < 3 && /Address already in use/.test(logs)) {
        await stopDaemons([slurmd, ctld]);
        daemons.splice(daemons.indexOf(ctld), 2);
        continue;
      }
      throw new Error(`Slurm cluster in ${dir} did not start: ${failure}\n${logs}`);
    }
  } catch (e) {
    await stopDaemons([...daemons].reverse()).catch(() => {});
    globalThis.removeEventListener("unload", guard);
    throw e;
  }
  return new SlurmCluster(dir, env, nodeName, daemons, guard);
}

/** A running one-node cluster made by {@linkcode startSlurmCluster}. */
export class SlurmCluster {
  /** The folder that holds all of the cluster's state. */
  readonly dir: string;
  /**
   * What Slurm's client commands need: SLURM_CONF (and PATH with the clients' folder).
   * Pass it to `sbatch`, `squeue` etc. and to subprocesses that call them; jobs get the
   * submitter's environment (sbatch's default --export=ALL), so they see it too.
   */
  readonly env: Record<string, string>;
  /** The node's name (the short hostname). */
  readonly nodeName: string;
  /** The daemons' process ids. */
  readonly pids: Readonly<Record<SlurmDaemon, number>>;
  #daemons: Daemon[];
  #guard: () => void;
  #stopped = false;

  /** Wraps started daemons; use {@linkcode startSlurmCluster}. */
  constructor(
    dir: string,
    env: Record<string, string>,
    nodeName: string,
    daemons: Daemon[],
    guard: () => void,
  ) {
    this.dir = dir;
    this.env = env;
    this.nodeName = nodeName;
    this.#daemons = daemons;
    this.#guard = guard;
    const pid = (name: SlurmDaemon) => daemons.find((d) => d.name === name)!.pid;
    this.pids = { munged: pid("munged"), slurmctld: pid("slurmctld"), slurmd: pid("slurmd") };
  }

  /** Runs a Slurm client (`sbatch`, `squeue`, ...) with {@linkcode env}; never throws on its exit code. */
  async run(
    command: string,
    args: string[],
    options: { cwd?: string } = {},
  ): Promise<SlurmCommandOutput> {
    const out = await new Deno.Command(command, {
      args,
      cwd: options.cwd,
      env: this.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  /**
   * Waits until job `jobId` (all tasks of an array job) is neither pending, running nor
   * completing, polling `squeue -h -j <id>`; throws with the squeue output and the
   * slurmctld log tail after `timeoutMs`.
   */
  async waitForJobs(jobId: string, timeoutMs: number): Promise<void> {
    const id = checkJobId(jobId, "waitForJobs");
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      const r = await this.run("squeue", ["-h", "-j", id, "-o", "%i %T %r"]);
      // Once a finished job ages out of slurmctld (MinJobAge), squeue calls its id invalid.
      if (r.code !== 0 && /Invalid job id/i.test(r.stderr)) return;
      if (r.code === 0 && r.stdout.trim() === "") return;
      last = r.code === 0 ? r.stdout.trim() : `squeue exited ${r.code}: ${r.stderr.trim()}`;
      if (Date.now() >= deadline) {
        throw new Error(
          `Slurm job ${id} still has tasks queued after ${timeoutMs} ms:\n${last}\n` +
            (await logTails(this.#daemons.filter((d) => d.name !== "munged"))),
        );
      }
      await delay(POLL_MS);
    }
  }

  /**
   * The records `scontrol show job <id>` knows for a job: one per array task. Finished jobs
   * stay listed for MinJobAge (300 s) after they end.
   */
  async jobStates(jobId: string): Promise<SlurmJobState[]> {
    const id = checkJobId(jobId, "jobStates");
    const r = await this.run("scontrol", ["show", "job", "-o", id]);
    if (r.code !== 0) {
      throw new Error(`scontrol show job ${id} failed (exit ${r.code}): ${r.stderr.trim()}`);
    }
    return r.stdout.split("\n").filter((line) => line.trim()).map((line) => {
      const field = (key: string) => line.match(new RegExp(`(?:^|\\s)${key}=(\\S*)`))?.[1] ?? "";
      const task = field("ArrayTaskId");
      return {
        jobId: field("JobId"),
        arrayTaskId: /^\d+$/.test(task) ? Number(task) : null,
        state: field("JobState"),
        exitCode: field("ExitCode"),
      };
    });
  }

  /**
   * Cancels any jobs left, stops slurmd, slurmctld and munged by their process ids (SIGTERM,
   * then SIGKILL after 5 s), SIGKILLs any other process still carrying this cluster's
   * SLURM_CONF in its environment (stray job steps; so end your own subprocesses that got
   * `env` first), and throws if a daemon's pid is still alive. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const ctld = this.#daemons.find((d) => d.name === "slurmctld")!;
    if (!ctld.exited) {
      // slurmstepd and the job's processes outlive slurmd, so end the jobs first.
      const q = await this.run("squeue", ["-h", "-o", "%A"]).catch(() => null);
      if (q?.code === 0 && q.stdout.trim()) {
        await this.run("scancel", q.stdout.trim().split(/\s+/)).catch(() => {});
        const deadline = Date.now() + STOP_GRACE_MS;
        while (Date.now() < deadline) {
          const r = await this.run("squeue", ["-h"]).catch(() => null);
          if (!r || r.code !== 0 || r.stdout.trim() === "") break;
          await delay(POLL_MS);
        }
      }
    }
    try {
      await stopDaemons([...this.#daemons].reverse());
    } finally {
      globalThis.removeEventListener("unload", this.#guard);
      await killStrays(this.env.SLURM_CONF);
    }
  }
}

/** The slurm.conf of the one-node test cluster. */
function slurmConf(
  c: { dir: string; nodeName: string; cpus: number; ctldPort: number; slurmdPort: number },
): string {
  const p = (...parts: string[]) => join(c.dir, ...parts);
  return [
    "# One-node test cluster written by tests/_slurm.ts",
    "ClusterName=saliencylab",
    // "localhost" is always taken as this host, so slurmctld needs no name lookup.
    "SlurmctldHost=localhost(127.0.0.1)",
    `SlurmctldPort=${c.ctldPort}`,
    `SlurmdPort=${c.slurmdPort}`,
    "AuthType=auth/munge",
    "CredType=cred/munge",
    // Our own munged: Slurm's munge plugins (auth and job credentials) use this socket.
    `AuthInfo=socket=${p("munge", "munge.socket")}`,
    "SlurmUser=root",
    "SlurmdUser=root",
    `StateSaveLocation=${p("state")}`,
    `SlurmdSpoolDir=${p("spool")}`,
    `SlurmctldPidFile=${p("slurmctld.pid")}`,
    `SlurmdPidFile=${p("slurmd.pid")}`,
    `SlurmctldLogFile=${p("log", "slurmctld.log")}`,
    `SlurmdLogFile=${p("log", "slurmd.log")}`,
    "SlurmctldDebug=info",
    "SlurmdDebug=info",
    // Otherwise slurmctld logs "Configured MailProg is invalid" when /usr/bin/mail is absent.
    "MailProg=/bin/true",
    "ProctrackType=proctrack/linuxproc",
    "TaskPlugin=task/none",
    "JobAcctGatherType=jobacct_gather/none",
    "AccountingStorageType=accounting_storage/none",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_Core",
    "MpiDefault=none",
    "ReturnToService=2",
    // Trust the CPUs and memory below rather than drain the node when the hardware differs.
    "SlurmdParameters=config_overrides",
    // Start the next array task as soon as one ends, not after the default 1-3 s delays.
    "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
    // scancel escalates SIGTERM to SIGKILL after 2 s rather than 30 s.
    "KillWait=2",
    `NodeName=${c.nodeName} NodeHostname=${c.nodeName} NodeAddr=127.0.0.1 CPUs=${c.cpus} ` +
    "RealMemory=100 State=UNKNOWN",
    `PartitionName=debug Nodes=${c.nodeName} Default=YES MaxTime=INFINITE State=UP`,
    "",
  ].join("\n");
}

/** Makes the munge key (0600) and starts munged on its own socket; waits for the socket. */
async function startMunge(munged: string, mungekey: string | null, dir: string): Promise<Daemon> {
  const m = (name: string) => join(dir, "munge", name);
  await Deno.mkdir(join(dir, "munge"), { recursive: true, mode: 0o755 });
  await Deno.remove(m("munge.key")).catch(() => {});
  if (mungekey) {
    const r = await new Deno.Command(mungekey, {
      args: ["--create", "--keyfile", m("munge.key")],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.code !== 0) {
      throw new Error(
        `mungekey --create --keyfile ${m("munge.key")} failed (exit ${r.code}): ` +
          new TextDecoder().decode(r.stderr).trim(),
      );
    }
  } else {
    // Older munge has no mungekey; any 32 to 1024 random bytes make a key.
    await Deno.writeFile(m("munge.key"), crypto.getRandomValues(new Uint8Array(128)), {
      mode: 0o600,
    });
  }
  await Deno.chmod(m("munge.key"), 0o600);
  const daemon = spawnDaemon(
    "munged",
    munged,
    [
      "--foreground",
      // --force: munged refuses a socket whose folders are not searchable by everyone, and
      // Deno.makeTempDir makes 0700 folders. Every client here is root, so that does not matter.
      "--force",
      `--key-file=${m("munge.key")}`,
      `--socket=${m("munge.socket")}`,
      `--pid-file=${m("munged.pid")}`,
      `--seed-file=${m("munged.seed")}`,
    ],
    dir,
    {},
  );
  daemon.logFile = daemon.stderrFile; // In the foreground munged logs to stderr only.
  const deadline = Date.now() + 10_000;
  while (!(await Deno.stat(m("munge.socket")).catch(() => null))?.isSocket) {
    if (daemon.exited || Date.now() >= deadline) {
      const why = daemon.exited ? "it exited" : "no socket after 10 s";
      const logs = await logTails([daemon]);
      await stopDaemons([daemon]);
      throw new Error(`munged did not start (${why}): ${m("munge.socket")}\n${logs}`);
    }
    await delay(50);
  }
  return daemon;
}

/** Spawns a daemon in the foreground with stdout and stderr appended to log/<name>.stderr. */
function spawnDaemon(
  name: SlurmDaemon,
  program: string,
  args: string[],
  dir: string,
  env: Record<string, string>,
): Daemon {
  const stderrFile = join(dir, "log", `${name}.stderr`);
  // `exec` keeps the shell's pid, so the child's pid is the daemon's.
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'out=$1; shift; exec "$@" >>"$out" 2>&1', "sh", stderrFile, program, ...args],
    cwd: dir,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const d: Daemon = {
    name,
    child,
    pid: child.pid,
    exited: false,
    stderrFile,
    logFile: join(dir, "log", `${name}.log`),
  };
  child.status.then(() => d.exited = true);
  return d;
}

/** Null once the node is IDLE, or why it is not: a daemon exited, or the timeout passed. */
async function waitForIdle(
  nodeName: string,
  env: Record<string, string>,
  scontrol: string,
  daemons: Daemon[],
  timeoutMs: number,
): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  let state = "(no answer)";
  for (;;) {
    const dead = daemons.find((d) => d.exited);
    if (dead) return `${dead.name} (pid ${dead.pid}) exited`;
    const r = await new Deno.Command(scontrol, {
      args: ["show", "node", "-o", nodeName],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.code === 0 ? r.stdout : r.stderr).trim();
    state = r.code === 0 ? (text.match(/\sState=(\S+)/)?.[1] ?? text) : text;
    if (state === "IDLE") return null;
    if (Date.now() >= deadline) {
      return `node ${nodeName} is not idle after ${timeoutMs} ms (state: ${state})`;
    }
    await delay(POLL_MS);
  }
}

/** SIGTERM each daemon in order, SIGKILL after a grace period; throws if a pid survives. */
async function stopDaemons(daemons: Daemon[]): Promise<void> {
  const alive: string[] = [];
  for (const d of daemons) {
    if (!d.exited) {
      tryKill(d.pid, "SIGTERM");
      if (!(await exitsWithin(d, STOP_GRACE_MS))) {
        tryKill(d.pid, "SIGKILL");
        await exitsWithin(d, STOP_GRACE_MS);
      }
    }
    if (!d.exited || await pidAlive(d.pid)) alive.push(`${d.name} (pid ${d.pid})`);
  }
  if (alive.length > 0) {
    throw new Error(`Cannot stop the test Slurm cluster: still running: ${alive.join(", ")}`);
  }
}

/** Whether the daemon's process ends (and is reaped) within `ms`. */
async function exitsWithin(d: Daemon, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((res) => timer = setTimeout(res, ms));
  await Promise.race([d.child.status, timeout]);
  clearTimeout(timer);
  return d.exited;
}

/** Runs `/bin/sh -c script sh args...` (Deno's permissions keep /proc from us without -A). */
async function sh(script: string, args: string[]): Promise<{ code: number; stdout: string }> {
  const r = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return { code: r.code, stdout: new TextDecoder().decode(r.stdout) };
}

/** Whether a process with this pid exists and is not a zombie. */
async function pidAlive(pid: number): Promise<boolean> {
  const script =
    's=$(cat /proc/"$1"/stat 2>/dev/null) || exit 1; case "${s##*) }" in Z*) exit 1;; esac';
  return (await sh(script, [String(pid)])).code === 0;
}

/** SIGKILLs every other process whose environment holds SLURM_CONF=<conf>: stray job steps. */
async function killStrays(conf: string): Promise<void> {
  // -z: NUL-separated entries, -x: the whole entry, so a longer path does not match.
  const r = await sh('grep -lszxF -- "SLURM_CONF=$1" /proc/[0-9]*/environ', [conf]);
  for (const line of r.stdout.split("\n")) {
    const pid = Number(line.match(/^\/proc\/(\d+)\/environ$/)?.[1]);
    if (pid > 0 && pid !== Deno.pid) tryKill(pid, "SIGKILL");
  }
}

function tryKill(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** The last lines of each daemon's log and captured stderr, for error messages. */
async function logTails(daemons: Daemon[], lines = 15): Promise<string> {
  const parts: string[] = [];
  for (const d of daemons) {
    for (const file of new Set([d.logFile, d.stderrFile])) {
      const text = await Deno.readTextFile(file).catch(() => null);
      if (text === null) continue;
      // The PMIx MPI plugins fail to load on every start; that noise hides the real error.
      const tail = text.split("\n").filter((l) => l.trim() && !/pmix/i.test(l)).slice(-lines);
      parts.push(`--- ${file} (last ${tail.length} lines) ---\n${tail.join("\n")}`);
    }
  }
  return parts.join("\n");
}

/** `n` distinct TCP ports free on this host right now. */
function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/** The short hostname, as `hostname -s` prints it; "localhost" if it is not a plain name. */
function shortHostname(): string {
  const name = Deno.hostname().split(".")[0];
  return /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name) ? name : "localhost";
}

function checkJobId(jobId: string, method: string): string {
  // `sbatch --parsable` prints "<id>" or "<id>;<cluster>".
  const id = String(jobId).trim().split(";")[0];
  if (!/^\d+(_\d+)?$/.test(id)) {
    throw new TypeError(
      `${method}(): job id must be digits as sbatch --parsable prints them, got "${jobId}"`,
    );
  }
  return id;
}

function delay(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}
