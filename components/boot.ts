// Renders the instance's cloud-config user data from the real files under components/boot/.
// Pure and deterministic: the same inputs give the same bytes, so an unchanged config never
// touches the instance.
import { readFileSync } from "fs";
import * as path from "path";
import { gzip } from "pako";
import { stringify } from "yaml";

import { SSH_PORT } from "./network";

const BOOT_DIR = path.join(__dirname, "boot");

/** Where things live on the instance. Tests and scripts import these instead of repeating them. */
export const INSTANCE_PATHS = {
    configDir: "/etc/gpu-notebook",
    jupyterConfig: "/etc/gpu-notebook/jupyter_server_config.py",
    certFile: "/etc/gpu-notebook/tls/notebook.crt",
    keyFile: "/etc/gpu-notebook/tls/notebook.key",
    serviceUnit: "/etc/systemd/system/gpu-notebook-jupyter.service",
    prepareScript: "/usr/local/lib/gpu-notebook/prepare-jupyter.sh",
    launcher: "/usr/local/lib/gpu-notebook/jupyter-lab",
    idleWatcher: "/usr/local/lib/gpu-notebook/idle-watcher.py",
    idleService: "/etc/systemd/system/gpu-notebook-idle.service",
    idleTimer: "/etc/systemd/system/gpu-notebook-idle.timer",
    /** The idle watcher's Jupyter token: made on the instance, never part of the user data. */
    apiTokenFile: "/etc/gpu-notebook/api-token",
    idleState: "/run/gpu-notebook-idle/state.json",
} as const;

/** Instance tag the idle watcher reads its limit from (instance metadata), so changing it needs no new machine. */
export const IDLE_STOP_TAG = "idleStopMinutes";

/** The AMI's own login user; any other sshUser is created at boot. */
export const AMI_DEFAULT_USER = "ubuntu";

/** cloud-init refuses user data over 16 KB. */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

export interface BootInput {
    /** Login user that owns the notebook server, its files and its TLS key. */
    sshUser: string;
    /** SSH public key (OpenSSH format); installed for sshUser when it is not the AMI's own user. */
    sshPublicKey: string;
    /** TCP port of the notebook server. */
    notebookPort: number;
    /** Address Jupyter binds: 0.0.0.0 when exposed through the security group. */
    listenAddress: string;
    /** jupyter_server password hash (sha256:salt:hex); the plaintext never reaches the instance. */
    passwordHash: string;
    /** PEM certificate the notebook serves. */
    tlsCertificatePem: string;
    /** PEM private key of that certificate; written 0600, owned by sshUser. */
    tlsPrivateKeyPem: string;
}

/** Reads a file shipped under components/boot/. */
export function bootFile(name: string): string {
    return readFileSync(path.join(BOOT_DIR, name), "utf8");
}

/**
 * Replaces every `{{name}}` in a template. Fails on a placeholder without a value and on a value
 * without a placeholder, so a template and its caller cannot drift apart silently.
 */
export function fillTemplate(template: string, values: Record<string, string>): string {
    const used = new Set<string>();
    const filled = template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
        if (!(name in values)) {
            throw new Error(`template placeholder {{${name}}} has no value`);
        }
        used.add(name);
        return values[name];
    });
    const unused = Object.keys(values).filter((name) => !used.has(name));
    if (unused.length > 0) {
        throw new Error(`template has no placeholder for ${unused.join(", ")}`);
    }
    return filled;
}

/** A Python string literal; JSON's escaping is valid Python for any string. */
function pythonString(value: string): string {
    return JSON.stringify(value);
}

export function homeOf(user: string): string {
    return `/home/${user}`;
}

export function notebookDirOf(user: string): string {
    return `${homeOf(user)}/notebooks`;
}

/** The Jupyter server configuration the instance runs with. */
export function renderJupyterConfig(input: BootInput): string {
    return fillTemplate(bootFile("jupyter_server_config.py"), {
        listenAddress: pythonString(input.listenAddress),
        port: String(input.notebookPort),
        notebookDir: pythonString(notebookDirOf(input.sshUser)),
        certFile: pythonString(INSTANCE_PATHS.certFile),
        keyFile: pythonString(INSTANCE_PATHS.keyFile),
        passwordHash: pythonString(input.passwordHash),
        tokenFile: pythonString(INSTANCE_PATHS.apiTokenFile),
    });
}

/** The systemd unit that keeps the notebook server running across restarts and reboots. */
export function renderServiceUnit(input: BootInput): string {
    return fillTemplate(bootFile("gpu-notebook-jupyter.service"), {
        user: input.sshUser,
        home: homeOf(input.sshUser),
        notebookDir: notebookDirOf(input.sshUser),
        launcher: INSTANCE_PATHS.launcher,
        configFile: INSTANCE_PATHS.jupyterConfig,
        watcher: INSTANCE_PATHS.idleWatcher,
        tokenFile: INSTANCE_PATHS.apiTokenFile,
    });
}

/** The oneshot unit the idle timer runs: the watcher against this machine's own notebook. */
export function renderIdleService(input: BootInput): string {
    return fillTemplate(bootFile("gpu-notebook-idle.service"), {
        watcher: INSTANCE_PATHS.idleWatcher,
        port: String(input.notebookPort),
        certFile: INSTANCE_PATHS.certFile,
        tokenFile: INSTANCE_PATHS.apiTokenFile,
        sshPort: String(SSH_PORT),
        stateFile: INSTANCE_PATHS.idleState,
    });
}

interface WriteFile {
    path: string;
    content: string;
    /** cloud-init decodes `gz+b64` content before writing the file. */
    encoding?: "gz+b64";
    owner: string;
    permissions: string;
    defer: boolean;
}

/**
 * Gzip (level 9) then base64, for large files: user data is limited to 16 KB. pako is pure
 * JavaScript pinned to one version, and its gzip header carries no time, so the bytes are the same
 * on every machine and Node version (Node's own zlib changes between releases, and a changed byte
 * here would replace the instance).
 */
export function gzipBase64(content: string): string {
    return Buffer.from(gzip(Buffer.from(content, "utf8"), { level: 9 })).toString("base64");
}

/**
 * The cloud-config document. Files owned by sshUser are deferred to cloud-init's final stage,
 * after the user exists; the prepare script then runs from runcmd.
 */
export function renderCloudConfig(input: BootInput): Record<string, unknown> {
    const user = input.sshUser;
    const file = (filePath: string, content: string, owner: string, permissions: string): WriteFile =>
        ({ path: filePath, content, owner: `${owner}:${owner}`, permissions, defer: true });
    const config: Record<string, unknown> = {};
    if (user !== AMI_DEFAULT_USER) {
        config.users = [
            "default",
            {
                name: user,
                shell: "/bin/bash",
                sudo: "ALL=(ALL) NOPASSWD:ALL",
                groups: ["adm", "sudo"],
                ssh_authorized_keys: [input.sshPublicKey.trim()],
            },
        ];
    }
    config.write_files = [
        file(INSTANCE_PATHS.certFile, input.tlsCertificatePem, "root", "0644"),
        file(INSTANCE_PATHS.keyFile, input.tlsPrivateKeyPem, user, "0600"),
        file(INSTANCE_PATHS.jupyterConfig, renderJupyterConfig(input), user, "0600"),
        file(INSTANCE_PATHS.serviceUnit, renderServiceUnit(input), "root", "0644"),
        file(INSTANCE_PATHS.prepareScript, bootFile("prepare-jupyter.sh"), "root", "0755"),
        {
            ...file(INSTANCE_PATHS.idleWatcher, gzipBase64(bootFile("idle-watcher.py")), "root", "0755"),
            encoding: "gz+b64",
        },
        file(INSTANCE_PATHS.idleService, renderIdleService(input), "root", "0644"),
        file(INSTANCE_PATHS.idleTimer, bootFile("gpu-notebook-idle.timer"), "root", "0644"),
    ];
    config.runcmd = [
        [INSTANCE_PATHS.prepareScript, user],
        ["systemctl", "enable", "--now", "gpu-notebook-idle.timer"],
    ];
    return config;
}

/** The user data handed to EC2: `#cloud-config` followed by the document as YAML. */
export function renderUserData(input: BootInput): string {
    const text = "#cloud-config\n" + stringify(renderCloudConfig(input), { lineWidth: 0 });
    const size = Buffer.byteLength(text, "utf8");
    if (size > USER_DATA_LIMIT_BYTES) {
        throw new Error(`user data is ${size} bytes, over EC2's limit of ${USER_DATA_LIMIT_BYTES}`);
    }
    return text;
}
