// The machine contract: every fact the program, the user scripts and the machine share, written
// once. The machine reads it as /etc/gpu-notebook/machine.json (rendered into the boot bundle by
// boot.ts); the scripts read scripts/lib/machine.sh, generated from this module
// (machineShell below; a test keeps the file current). A test scans the product for a second
// copy of each literal here, so a fact cannot drift into two spellings. The same holds for what
// the scripts tell the program: the environment variables that steer a run (CAPACITY_ENV).

/** Where things live on the instance. */
export const INSTANCE_PATHS = {
    /** The contract as the machine reads it: these facts plus the notebook's own settings. */
    machineFile: "/etc/gpu-notebook/machine.json",
    jupyterConfig: "/etc/gpu-notebook/jupyter_server_config.py",
    certFile: "/etc/gpu-notebook/tls/notebook.crt",
    keyFile: "/etc/gpu-notebook/tls/notebook.key",
    /** The notebook password's hash: a secret, so it comes with the user data, never in the bundle. */
    passwordHashFile: "/etc/gpu-notebook/password-hash",
    serviceUnit: "/etc/systemd/system/gpu-notebook-jupyter.service",
    prepareScript: "/usr/local/lib/gpu-notebook/prepare-jupyter.sh",
    mountScript: "/usr/local/lib/gpu-notebook/mount-data-volume.sh",
    launcher: "/usr/local/lib/gpu-notebook/jupyter-lab",
    /** Also answers npm run status (run over SSH as the notebook user). */
    idleWatcher: "/usr/local/lib/gpu-notebook/idle-watcher.py",
    idleService: "/etc/systemd/system/gpu-notebook-idle.service",
    idleTimer: "/etc/systemd/system/gpu-notebook-idle.timer",
    /** The idle watcher's Jupyter token: made on the instance, never part of the user data. */
    apiTokenFile: "/etc/gpu-notebook/api-token",
    /** The idle watcher's last verdict; under its unit's RuntimeDirectory (see IDLE_RUNTIME_DIR). */
    idleState: "/run/gpu-notebook-idle/state.json",
    /** The job runner the user scripts call over SSH and the idle watcher asks what runs. */
    jobRunner: "/usr/local/lib/gpu-notebook/gpu-notebook-job",
    jobsService: "/etc/systemd/system/gpu-notebook-jobs.service",
    jobsTmpfiles: "/etc/tmpfiles.d/gpu-notebook-jobs.conf",
    /** Volatile like all of /run: a job's pid file here means it runs in this boot. */
    jobsRunDir: "/run/gpu-notebook-jobs",
    /** The machine's AWS client (metadata, SigV4, the bundle fetch); the user data carries it for the first boot. */
    awsModule: "/usr/local/lib/gpu-notebook/gpu_notebook_aws.py",
    /** The helpers the machine's Python programs share, imported from beside them; part of the bundle. */
    commonModule: "/usr/local/lib/gpu-notebook/gpu_notebook_common.py",
    /** Installs the boot bundle and sets the machine up; part of the bundle. */
    bootModule: "/usr/local/lib/gpu-notebook/gpu_notebook_boot.py",
    /** Runs bootModule at every boot, before the notebook, the jobs and the watcher. */
    bundleService: "/etc/systemd/system/gpu-notebook-bundle.service",
    /** Verified bundles by hash, the installed one's hash, and the marker of a failed fetch. */
    bundleStateDir: "/var/lib/gpu-notebook",
    /** Present when the last fetch gave up: its reason and the next step, for npm run status. */
    bundleFailed: "/var/lib/gpu-notebook/bundle-failed",
    /** Present after an update applied over SSH that the notebook server takes only at its next start. */
    updatePending: "/run/gpu-notebook-update-pending",
    /**
     * The notifier: delivers the machine's events (machine.json's unattended.notify); its `test`
     * command, which `npm run notify-test` runs over SSH as the login user, sends one message
     * through every channel and exits non-zero when none delivered.
     */
    notifier: "/usr/local/lib/gpu-notebook/gpu_notebook_notify.py",
    /** One JSON line a delivery attempt's outcome; its folder belongs to the notebook user, whose jobs notify too. */
    notifyLog: "/var/log/gpu-notebook/notify.jsonl",
    /** The stop sequence (jobs warned, the user's hook, the notification, the last-stop record) and the spot watcher. */
    stopProgram: "/usr/local/lib/gpu-notebook/gpu-notebook-stop",
    /** Runs the stop sequence at shutdown for stops the machine did not start, and notifies the start at boot. */
    stopService: "/etc/systemd/system/gpu-notebook-stop.service",
    /**
     * Orders every login session's scope (where jobs started over SSH run) after stopService, so at
     * shutdown systemd stops them only once the stop sequence has warned their jobs (a prefix drop-in).
     */
    sessionScopeDropIn: "/etc/systemd/system/session-.scope.d/gpu-notebook-stop.conf",
    /** Watches instance metadata for a spot interruption notice. */
    spotService: "/etc/systemd/system/gpu-notebook-spot.service",
    /** Why the machine is powering itself off, written just before by whoever does it (idle or spot watcher). */
    stopReasonFile: "/run/gpu-notebook-stop-reason",
    /** Present once the stop sequence ran in this boot, so it never runs twice. */
    stopMarker: "/run/gpu-notebook-stopped",
    /**
     * Where the notebook user's packages and caches go (USER_ENVIRONMENT as KEY=VALUE lines): read by
     * the notebook and jobs units (EnvironmentFile=), the login profile and the job runner. Only with a data volume.
     */
    environmentFile: "/etc/gpu-notebook/environment",
    /** Puts environmentFile into the notebook user's login shells. */
    profileScript: "/etc/profile.d/gpu-notebook-environment.sh",
    /** Runs the user's setup file once per machine at boot, and again by hand (npm run setup-log -- --run). */
    setupProgram: "/usr/local/lib/gpu-notebook/gpu-notebook-setup",
    /**
     * The last setup run on this machine (instance id, outcome, times). On the root disk on purpose: it
     * goes with the machine, so a replacement, a move or an on-demand fallback (each a new root disk)
     * runs the setup again, and a reboot (the same disk) does not.
     */
    setupState: "/var/lib/gpu-notebook/setup.json",
} as const;

/**
 * How the machine fetches its bundle: a new instance role can take seconds to work and S3 can be
 * briefly unreachable, so it tries for about seven minutes (2 + 4 + … + 60 s) before it gives up.
 */
export const BUNDLE_FETCH = { attempts: 12, firstDelaySeconds: 2, maxDelaySeconds: 60 } as const;

/**
 * The options of a bundle fetch: the machine's programs have no defaults for them. The user data
 * (first boot) and the bundle unit (every later boot) pass them, and so does `npm run up` when it
 * applies a new bundle over SSH (machine.sh BUNDLE_FETCH_OPTIONS).
 */
export function bundleFetchOptions(): string[] {
    return [
        "--tag", BUNDLE_TAG,
        "--state-dir", INSTANCE_PATHS.bundleStateDir,
        "--failed-marker", INSTANCE_PATHS.bundleFailed,
        "--attempts", String(BUNDLE_FETCH.attempts),
        "--first-delay", String(BUNDLE_FETCH.firstDelaySeconds),
        "--max-delay", String(BUNDLE_FETCH.maxDelaySeconds),
    ];
}

/**
 * Environment variables the driver (scripts/lib/capacity.sh: npm run up, start and move) sets for
 * one `pulumi up`; a plain `pulumi up` has none. The program reads them (capacity.ts
 * hintsFromEnvironment); the scripts name them through machine.sh.
 */
export const CAPACITY_ENV = {
    /** Space-separated NOTEBOOK=zone/type/market entries: candidates EC2 said are full in this run. */
    full: "GPU_NOTEBOOK_NO_CAPACITY",
    /** Space-separated NOTEBOOK=type entries: `npm run start -- --type`, the type to change a stopped machine to. */
    type: "GPU_NOTEBOOK_START_TYPE",
    /** When the driver began (milliseconds since 1970): a data volume made after it by a failed first launch holds nothing. */
    started: "GPU_NOTEBOOK_RUN_STARTED",
    /** Space-separated NOTEBOOK=market entries: `npm run start -- --on-demand`, a spot machine replaced by an on-demand one. */
    market: "GPU_NOTEBOOK_START_MARKET",
} as const;

/** The idle watcher unit's RuntimeDirectory (under /run): where idleState lives. */
export const IDLE_RUNTIME_DIR = "gpu-notebook-idle";

/** Where the notebooks live, relative to the notebook user's home. */
export const NOTEBOOK_DIR_NAME = "notebooks";
/** Where jobs live, inside the notebook folder: on the data volume, so they survive a replaced machine. */
export const JOBS_DIR_NAME = "jobs";

/** gpu-notebook's folder inside the notebook folder (on the data volume): the user's hooks and their logs. */
export const USER_HOOKS_DIR_NAME = ".gpu-notebook";
/** The user's setup file in USER_HOOKS_DIR_NAME, run once on every new machine, and its log beside it. */
export const SETUP_FILE_NAME = "setup";
export const SETUP_LOG_NAME = "setup.log";
/**
 * How long a setup run may take before it is ended: under the boot installer's limit for one step
 * (gpu_notebook_boot.py), so a hung setup never keeps the notebook server from starting.
 */
export const SETUP_TIMEOUT_SECONDS = 1500;

/**
 * Where the notebook user's packages and caches live, relative to the notebook folder: with a data
 * volume they are on it, so a replaced machine has them. Each is the tool's own variable.
 * Dot folders, so Jupyter's file list does not show them.
 */
export const USER_ENVIRONMENT: readonly (readonly [variable: string, relativePath: string, why: string])[] = [
    ["PYTHONUSERBASE", ".local", "pip install --user, and where Python finds those packages"],
    ["PIP_CACHE_DIR", ".cache/pip", "pip's download and wheel cache"],
    ["CONDA_ENVS_DIRS", ".conda/envs", "conda's envs_dirs: new environments and clones; the AMI's own stay where they are"],
    ["CONDA_PKGS_DIRS", ".conda/pkgs", "conda's pkgs_dirs: its package cache"],
    ["WORKON_HOME", ".venvs", "virtualenvs made by pipenv and virtualenvwrapper"],
    ["HF_HOME", ".cache/huggingface", "Hugging Face's models, datasets and token"],
    ["TORCH_HOME", ".cache/torch", "torch hub's models and checkpoints"],
    ["JUPYTER_DATA_DIR", ".local/share/jupyter", "kernels registered with ipykernel install --user, which Jupyter lists"],
];

/** The port sshd listens on: the security group opens it and the scripts dial it. */
export const SSH_PORT = 22;
/** The local end of the tunnel to an unexposed notebook, and the address it listens on then. */
export const TUNNEL_HOST = "127.0.0.1";

/** Instance tag the idle watcher reads its limit from (instance metadata), so changing it needs no new machine. */
export const IDLE_STOP_TAG = "idleStopMinutes";
/**
 * Instance tag naming the boot bundle the machine runs, `<bucket>/<key>` (the key ends in the
 * bundle's SHA-256). Read through instance metadata, whose tag keys allow letters, digits and
 * `+-=._:@` only. Set by its own resource, so a new bundle never changes the instance's inputs.
 */
export const BUNDLE_TAG = "gpuNotebookBundle";

/**
 * Instance tag naming why the machine is being stopped, read by its stop sequence through
 * instance metadata: the backstop function sets it to "backstop" before it stops the machine,
 * and the program sets it to "user" while the config says stopped (npm run stop), so it is on
 * the instance before the stop. A later `pulumi up` removes a stale one (it is not in the
 * instance's tags otherwise).
 */
export const STOP_REASON_TAG = "gpuNotebookStopReason";

/** The user's stop hook and its log, relative to the notebook folder (on the data volume, with the notebooks). */
export const ON_STOP_HOOK = `${USER_HOOKS_DIR_NAME}/on-stop`;

/**
 * Why a machine stops, as the stop sequence, the hook (GPU_NOTEBOOK_STOP_REASON), the last-stop
 * record and the notifications say it: its idle stop, the backstop, a spot interruption,
 * `npm run stop`, or a stop from elsewhere (the console, the API, unknown).
 */
export const STOP_REASONS = ["idle", "backstop", "spot", "user", "elsewhere"] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** What the machine can tell its owner, by the names config notifyOn lists. */
export const NOTIFY_EVENTS = ["job-finished", "job-failed", "job-stalled", "stopping", "started", "budget"] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** The events notified unless notifyOn says otherwise: every one but "started", which would mail at each start. */
export const DEFAULT_NOTIFY_EVENTS: readonly NotifyEvent[] = NOTIFY_EVENTS.filter((event) => event !== "started");

/**
 * The stop sequence's fixed limits, which the machine reads from machine.json's `unattended`
 * object (no defaults of its own): the user's on-stop hook gets hookTimeoutSeconds; the spot
 * watcher polls the interruption notice every spotPollSeconds and ends SIGTERM, grace, hook and
 * notification within spotDeadlineSeconds of seeing it, inside the two minutes EC2 gives.
 */
export const UNATTENDED = { hookTimeoutSeconds: 60, spotPollSeconds: 5, spotDeadlineSeconds: 100 } as const;

/**
 * The SSM parameters a notebook owns, by name: `/gpu-notebook/<stack>/<notebook>/<what>`. The
 * last stop's record (always; the machine and the backstop write it, npm run status reads it)
 * and the notification webhook (a SecureString, only with notifyWebhook).
 */
export function notebookParameterName(stack: string, notebook: string, what: "last-stop" | "webhook"): string {
    return `/gpu-notebook/${stack}/${notebook}/${what}`;
}

/**
 * The idle watcher's heartbeat, one datapoint a minute: 1 when it saw activity, 0 when not. The
 * backstop alarm watches it; the instance role may write this namespace and nothing else.
 */
export const HEARTBEAT = { namespace: "GpuNotebook", metricName: "Active", dimension: "InstanceId" } as const;

/**
 * What keeps a machine from idle stop, in the words every description uses (the watcher's own
 * logic is its code; these are its conditions as people read them). The plan and the handout
 * print idleActivity(); the docs' prose is held to naming each one by test/contract.test.ts.
 */
export const IDLE_CONDITIONS = [
    "a job running",
    "a Jupyter kernel busy or recently used",
    "the GPU busy",
    "an SSH connection in use",
    "the notebook user's processes using CPU",
] as const;

/** IDLE_CONDITIONS as one phrase: "a job running, …, or the notebook user's processes using CPU". */
export function idleActivity(): string {
    return `${IDLE_CONDITIONS.slice(0, -1).join(", ")}, or ${IDLE_CONDITIONS[IDLE_CONDITIONS.length - 1]}`;
}

/**
 * The environment variable in which the user scripts (scripts/lib/pulumi.sh use_pulumi) tell the
 * program which Pulumi CLI runs it: "npm" for the project's pulumi npm package, which the quick
 * start uses as there is no `pulumi` on PATH; "path" for a `pulumi` on PATH. Unset: a plain
 * `pulumi up`, so a `pulumi` on PATH. The program's messages name the command that works (pulumiCommand).
 */
export const PULUMI_CLI_VARIABLE = "GPU_NOTEBOOK_PULUMI_CLI";

/** The unit name of an installed unit path. */
export function unitName(unitPath: string): string {
    return unitPath.slice(unitPath.lastIndexOf("/") + 1);
}

/** The facts the user scripts need, as shell assignments (scripts/lib/machine.sh is this text). */
export function machineShell(): string {
    const facts: [string, string | string[], string][] = [
        ["MACHINE_FILE", INSTANCE_PATHS.machineFile, "the contract as the machine reads it"],
        ["JOB_RUNNER_PATH", INSTANCE_PATHS.jobRunner, "the job runner"],
        ["IDLE_WATCHER_PATH", INSTANCE_PATHS.idleWatcher, "the idle watcher, which answers status"],
        ["BOOT_MODULE_PATH", INSTANCE_PATHS.bootModule, "installs the boot bundle"],
        ["BUNDLE_FETCH_OPTIONS", bundleFetchOptions(), "how it fetches one, as the bundle unit runs it (an array)"],
        ["BUNDLE_FAILED_FILE", INSTANCE_PATHS.bundleFailed, "present when the bundle fetch gave up"],
        ["UPDATE_PENDING_FILE", INSTANCE_PATHS.updatePending, "present when an update waits for a restart"],
        ["SETUP_PROGRAM_PATH", INSTANCE_PATHS.setupProgram, "runs the user's setup file"],
        ["NOTIFIER_PATH", INSTANCE_PATHS.notifier, "the notifier, whose test command npm run notify-test runs"],
        ["MACHINE_SSH_PORT", String(SSH_PORT), "sshd's port"],
        ["TUNNEL_HOST", TUNNEL_HOST, "the tunnel's local address"],
        ["IDLE_ACTIVITY", idleActivity(), "what keeps the machine from idle stop"],
        ["PULUMI_CLI_VARIABLE", PULUMI_CLI_VARIABLE, "where the scripts tell the program which Pulumi CLI they run"],
        // Names, not values: a script sets one with export "$NAME=value" or local -x "$NAME=value".
        ["NO_CAPACITY_VAR", CAPACITY_ENV.full, "names the candidates EC2 said are full, for the program"],
        ["START_TYPE_VAR", CAPACITY_ENV.type, "names npm run start --type, for the program"],
        ["START_MARKET_VAR", CAPACITY_ENV.market, "names npm run start --on-demand, for the program"],
        ["RUN_STARTED_VAR", CAPACITY_ENV.started, "names when the driver began, for the program"],
        ["START_VAR", START_ENV, "names the notebooks npm run start starts, for the program"],
    ];
    // Quoted as the shell reads it back: a plain word as it is, else in single quotes, each ' as '\''.
    const word = (value: string) => /^[\w./:-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
    return [
        "# shellcheck shell=bash",
        "# shellcheck disable=SC2034 # read by the scripts that source it",
        "# GENERATED from components/contract.ts (machineShell) by test/contract.test.ts with",
        "# GPU_NOTEBOOK_RECORD=1; do not edit: change the contract and regenerate.",
        ...facts.map(([name, value, why]) => `${name}=${typeof value === "string" ? word(value) : `(${value.map(word).join(" ")})`} # ${why}`),
        "",
    ].join("\n");
}

/**
 * What `npm run start` tells the program: the notebooks this run starts, space-separated (their
 * names in the stack, "notebook" for a stack of one; "*" for every one). Without it, a run keeps
 * a stopped machine stopped whatever `running` says (components/running.ts), so no `pulumi up`
 * restarts a machine that idle stop powered off.
 */
export const START_ENV = "GPU_NOTEBOOK_START";
