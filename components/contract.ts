// The machine contract: every fact the program, the user scripts and the machine share, written
// once. The machine reads it as /etc/gpu-notebook/machine.json (rendered into the boot bundle by
// boot.ts); the scripts read scripts/lib/machine.sh, generated from this module
// (machineShell below; a test keeps the file current). A test scans the product for a second
// copy of each literal here, so a fact cannot drift into two spellings.

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

/** The unit name of an installed unit path. */
export function unitName(unitPath: string): string {
    return unitPath.slice(unitPath.lastIndexOf("/") + 1);
}

/** The facts the user scripts need, as shell assignments (scripts/lib/machine.sh is this text). */
export function machineShell(): string {
    const facts: [string, string, string][] = [
        ["MACHINE_FILE", INSTANCE_PATHS.machineFile, "the contract as the machine reads it"],
        ["JOB_RUNNER_PATH", INSTANCE_PATHS.jobRunner, "the job runner"],
        ["BOOT_MODULE_PATH", INSTANCE_PATHS.bootModule, "installs the boot bundle"],
        ["BUNDLE_SERVICE_PATH", INSTANCE_PATHS.bundleService, "its unit, which holds the fetch options"],
        ["BUNDLE_FAILED_FILE", INSTANCE_PATHS.bundleFailed, "present when the bundle fetch gave up"],
        ["UPDATE_PENDING_FILE", INSTANCE_PATHS.updatePending, "present when an update waits for a restart"],
        ["SETUP_PROGRAM_PATH", INSTANCE_PATHS.setupProgram, "runs the user's setup file"],
        ["MACHINE_SSH_PORT", String(SSH_PORT), "sshd's port"],
        ["TUNNEL_HOST", TUNNEL_HOST, "the tunnel's local address"],
        ["IDLE_ACTIVITY", idleActivity(), "what keeps the machine from idle stop"],
    ];
    return [
        "# shellcheck shell=bash",
        "# shellcheck disable=SC2034 # read by the scripts that source it",
        "# GENERATED from components/contract.ts (machineShell) by test/contract.test.ts with",
        "# GPU_NOTEBOOK_RECORD=1; do not edit: change the contract and regenerate.",
        // Quoted as the shell reads it back: single quotes, each ' as '\''.
        ...facts.map(([name, value, why]) => `${name}=${/^[\w./:-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`} # ${why}`),
        "",
    ].join("\n");
}
