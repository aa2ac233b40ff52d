// Renders the instance's cloud-config user data from the real files under components/boot/.
// Pure and deterministic: the same inputs give the same bytes, so an unchanged config never
// touches the instance.
import { readFileSync } from "fs";
import * as path from "path";
import { stringify } from "yaml";

const BOOT_DIR = path.join(__dirname, "boot");

/** Where things live on the instance. Tests and scripts import these instead of repeating them. */
export const INSTANCE_PATHS = {
    configDir: "/etc/gpu-notebook",
    jupyterConfig: "/etc/gpu-notebook/jupyter_server_config.py",
    certFile: "/etc/gpu-notebook/tls/notebook.crt",
    keyFile: "/etc/gpu-notebook/tls/notebook.key",
    serviceUnit: "/etc/systemd/system/gpu-notebook-jupyter.service",
    prepareScript: "/usr/local/lib/gpu-notebook/prepare-jupyter.sh",
    mountScript: "/usr/local/lib/gpu-notebook/mount-data-volume.sh",
    launcher: "/usr/local/lib/gpu-notebook/jupyter-lab",
} as const;

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
    /**
     * EBS volume to mount at the notebook directory (found on the machine by this id), or
     * undefined to keep notebooks on the root disk.
     */
    dataVolumeId?: string;
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
    });
}

/**
 * With a data volume, the notebook server waits for its mount at every boot and does not start
 * without it, so notebooks are never written to the root disk underneath an absent volume.
 */
function dataVolumeUnitLines(input: BootInput): string {
    const notebookDir = notebookDirOf(input.sshUser);
    return input.dataVolumeId === undefined
        ? "# No data volume: notebooks live on the root disk."
        : `RequiresMountsFor=${notebookDir}\nConditionPathIsMountPoint=${notebookDir}`;
}

/** The systemd unit that keeps the notebook server running across restarts and reboots. */
export function renderServiceUnit(input: BootInput): string {
    return fillTemplate(bootFile("gpu-notebook-jupyter.service"), {
        dataVolume: dataVolumeUnitLines(input),
        user: input.sshUser,
        home: homeOf(input.sshUser),
        notebookDir: notebookDirOf(input.sshUser),
        launcher: INSTANCE_PATHS.launcher,
        configFile: INSTANCE_PATHS.jupyterConfig,
    });
}

interface WriteFile {
    path: string;
    content: string;
    owner: string;
    permissions: string;
    defer: boolean;
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
    ];
    config.runcmd = [[INSTANCE_PATHS.prepareScript, user]];
    if (input.dataVolumeId !== undefined) {
        // Mounted before the notebook directory is prepared, so it is prepared on the volume.
        (config.write_files as WriteFile[]).push(file(INSTANCE_PATHS.mountScript, bootFile("mount-data-volume.sh"), "root", "0755"));
        config.runcmd = [[INSTANCE_PATHS.mountScript, input.dataVolumeId, notebookDirOf(user), user], ...config.runcmd as string[][]];
    }
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
