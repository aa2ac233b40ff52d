// The sshCommand stack output: one line to paste into bash or zsh right after `pulumi up`. It
// fetches the login key from the stack (a secret, so it is never part of the output; with the
// stack's passphrase file when npm run up made one), writes the
// machine's known_hosts line (public, so it is part of the output) and logs in with that host key
// required. Files, not `<(...)`: ssh reads its known_hosts file more than once and cannot read a
// key from a pipe, so process substitution fails on both.
import * as pulumi from "@pulumi/pulumi";

/** The stack output that holds the SSH login key (index.ts exports it under this name). */
export const PRIVATE_KEY_OUTPUT = "sshPrivateKey";
/** A fleet's secret map output, notebook name → { sshPrivateKey, notebookPassword } (fleet.ts). */
export const FLEET_SECRETS_OUTPUT = "notebookSecrets";

// Prints argv[1]'s login key from the secret map on stdin. Node is there: the product is an npm project.
const PICK_FLEET_KEY = `process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8"))[process.argv[1]].${PRIVATE_KEY_OUTPUT})`;

export interface SshCommandParts {
    /** Names the files: ~/.ssh/<label>.pem (login key) and ~/.ssh/<label>.known_hosts. */
    label: string;
    /** The login user on the machine. */
    user: string;
    /** The machine's public address. */
    ip: string;
    /** `<ip> ssh-ed25519 AAAA…`: the sshKnownHosts line. */
    knownHosts: string;
    /** The stack, as `pulumi stack output --stack` takes it (fully qualified when known). */
    stack: string;
    /** In a fleet, the notebook's name in FLEET_SECRETS_OUTPUT, where its login key is; else undefined. */
    notebookName?: string;
}

/** `text` as one shell word, the same in bash and zsh: bare when it is plain, else single-quoted. */
export function shellWord(text: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** What the pasted command says when it finds no Pulumi CLI (it needs one to read the login key). */
export const NO_PULUMI = "gpu-notebook: this needs the Pulumi CLI to read the login key: paste it in the gpu-notebook folder "
    + "(after npm ci), or install the CLI from https://www.pulumi.com/docs/iac/download-install/";

/**
 * Sets $p to a Pulumi CLI: the one on PATH, else the project's (the pulumi npm package `npm ci`
 * installs, which is there when the command is pasted in the project folder), else fails with one
 * sentence saying what to do. No `!` or `#`, which an interactive shell would expand or cut.
 */
const FIND_PULUMI = `{ p=pulumi && command -v pulumi >/dev/null || { p=node_modules/.bin/pulumi && [ -x "$p" ]; } || `
    + `{ echo ${shellWord(NO_PULUMI)} >&2 && exit 1; }; }`;

/**
 * The file in the Pulumi home (~/.pulumi) holding a stack's passphrase, which npm run up makes on a
 * local backend for a user who set none (scripts/lib/pulumi.sh passphrase_file names it the same).
 */
export function passphraseFileName(stack: string): string {
    return `gpu-notebook-${stack.replace(/\//g, "-")}.passphrase`;
}

/**
 * Gives Pulumi that file when the user set neither PULUMI_CONFIG_PASSPHRASE nor _FILE and it
 * exists: the key is read with stdout redirected, where Pulumi never asks for a passphrase.
 * Always succeeds; a passphrase of the user's own wins. `|| :` rather than `!`, which an
 * interactive shell would expand.
 */
function usePassphraseFile(stackName: string): string {
    const file = `"\${PULUMI_HOME:-$HOME/.pulumi}/${passphraseFileName(stackName)}"`;
    return `{ [ -n "\${PULUMI_CONFIG_PASSPHRASE+set}\${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] || `
        + `{ [ -f ${file} ] && export PULUMI_CONFIG_PASSPHRASE_FILE=${file}; } || :; }`;
}

/** What a label may hold: it becomes part of file names inside double quotes. */
const LABEL_PATTERN = /^[A-Za-z0-9._-]+$/;

/**
 * The pasteable command. The key is written with umask 077 in a subshell (the user's own umask is
 * left alone) and moved into place, so it is never readable by others, even for a moment, and a
 * key file left with looser modes is replaced rather than reused. Paths use "$HOME", which bash
 * and zsh both expand everywhere, where `~` after `=` is left to ssh, which reads the passwd
 * entry instead. HostKeyAlias makes ssh look the host key up under the public address whatever
 * address it dials, so redirecting the connection (as the tests do) never changes which key is
 * accepted.
 */
export function sshCommandText(parts: SshCommandParts): string {
    if (!LABEL_PATTERN.test(parts.label)) {
        throw new Error(`label ${JSON.stringify(parts.label)} must match ${LABEL_PATTERN}: it names files under ~/.ssh`);
    }
    const key = `"$HOME/.ssh/${parts.label}.pem"`;
    const keyNew = `"$HOME/.ssh/${parts.label}.pem.new"`;
    const knownHosts = `"$HOME/.ssh/${parts.label}.known_hosts"`;
    const stack = shellWord(parts.stack);
    const fetchKey = parts.notebookName === undefined
        ? `"$p" stack output --show-secrets --stack ${stack} ${PRIVATE_KEY_OUTPUT}`
        : `"$p" stack output --show-secrets --json --stack ${stack} ${FLEET_SECRETS_OUTPUT} | node -e ${shellWord(PICK_FLEET_KEY)} ${shellWord(parts.notebookName)}`;
    return [
        `(umask 077 && mkdir -p "$HOME/.ssh"`,
        `&& ${FIND_PULUMI}`,
        // The stack's name alone (organization/project/dev → dev) names its passphrase file.
        `&& ${usePassphraseFile(parts.stack.split("/").pop() as string)}`,
        `&& ${fetchKey} > ${keyNew}`,
        `&& mv -f ${keyNew} ${key}`,
        `&& printf '%s\\n' ${shellWord(parts.knownHosts)} > ${knownHosts})`,
        `&& ssh -i ${key} -o IdentitiesOnly=yes -o UserKnownHostsFile=${knownHosts} -o GlobalKnownHostsFile=/dev/null`,
        `-o StrictHostKeyChecking=yes -o HostKeyAlias=${shellWord(parts.ip)} ${shellWord(`${parts.user}@${parts.ip}`)}`,
    ].join(" ");
}

/** The running stack as `pulumi stack output --stack` finds it from any folder, when the engine says. */
function stackReference(): string {
    let organization = "";
    try {
        organization = pulumi.getOrganization();
    } catch {
        // Older engines and the test mocks name no organization: the stack name alone works in the
        // project folder, where `pulumi up` ran.
    }
    const stack = pulumi.getStack();
    return organization ? `${organization}/${pulumi.getProject()}/${stack}` : stack;
}

/** The sshCommand output of a notebook whose host key line is `knownHosts`. */
export function sshCommand(args: {
    label: string; user: string; ip: pulumi.Input<string>; knownHosts: pulumi.Input<string>; notebookName?: string;
}): pulumi.Output<string> {
    const stack = stackReference();
    return pulumi.all([args.ip, args.knownHosts]).apply(([ip, knownHosts]) =>
        sshCommandText({ label: args.label, user: args.user, ip, knownHosts, stack, notebookName: args.notebookName }));
}
