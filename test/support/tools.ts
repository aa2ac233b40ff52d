// Real tools and local servers for the suites that prove behaviour with Debian's programs (sshd,
// ssh, curl, shellcheck, cloud-init): where a tool is missing, CI fails and elsewhere the test is
// skipped loudly; servers listen on 127.0.0.1 on free ports only.
import { spawnSync } from "child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import * as net from "net";
import { tmpdir } from "os";
import * as path from "path";

/** True when `name` can be run: an absolute path that exists, or a command on PATH. */
export function hasTool(name: string): boolean {
    if (name.startsWith("/")) {
        return existsSync(name);
    }
    return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/**
 * Skips the running test (or suite, from a before hook) when a tool is missing, saying why; under
 * CI=true a missing tool fails instead, since CI installs every one of them.
 */
export function requireTools(context: Mocha.Context, ...names: string[]): void {
    const missing = names.filter((name) => !hasTool(name));
    if (missing.length === 0) {
        return;
    }
    const why = `missing ${missing.join(", ")} (Debian packages: see .ci/run)`;
    if (process.env.CI === "true") {
        throw new Error(`CI must have every tool the tests use: ${why}`);
    }
    console.warn(`      SKIPPED: ${why}`);
    context.skip();
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as net.AddressInfo).port;
            server.close(() => resolve(port));
        });
    });
}

/** Resolves once something accepts connections on 127.0.0.1:port; rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const open = await new Promise<boolean>((resolve) => {
            const socket = net.connect({ host: "127.0.0.1", port });
            socket.once("connect", () => { socket.destroy(); resolve(true); });
            socket.once("error", () => resolve(false));
        });
        if (open) {
            return;
        }
        if (Date.now() > deadline) {
            throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

/** Writes `content` to a fresh 0600 file for `use`, and removes it afterwards (it may hold a key). */
export function withPrivateFile<T>(content: string, use: (file: string) => T): T {
    const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-"));
    try {
        const file = path.join(dir, "file");
        writeFileSync(file, content, { mode: 0o600 });
        return use(file);
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}
