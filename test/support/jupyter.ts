// Starts a real Jupyter server (Debian's jupyter_server) for a suite: on 127.0.0.1, on a free port,
// with its own HOME and Jupyter directories so nothing of the machine's user leaks in or out.
import { ChildProcess, spawn } from "child_process";
import { connect } from "net";
import * as path from "path";
import { performance } from "perf_hooks";

import { DEBIAN_PYTHON, delay, freePort, refuseInUnitRun, settlesWithin } from "./system";

export const JUPYTER_SERVER_COMMAND = [DEBIAN_PYTHON, "-m", "jupyter_server"];

export interface JupyterServer {
    port: number;
    /** `https://127.0.0.1:<port>` (or http:// when started with https: false). */
    baseUrl: string;
    process: ChildProcess;
    /** Everything the server printed so far (stdout and stderr interleaved). */
    output(): string;
    /** Stops the server (SIGTERM, then SIGKILL after a bounded wait); safe to call twice. */
    stop(): Promise<void>;
    /** performance.now() when the process was spawned, to measure time to first answer. */
    startedAt: number;
}

export interface StartJupyterOptions {
    /** Config file passed as --config=<configFile>; unused when `command` is given (it names its own). */
    configFile: string;
    /** Working directory of the process. */
    cwd: string;
    /** HOME of the server; its Jupyter config, data and runtime directories live below it. */
    home: string;
    /** Appended after the listen flags, so they can override anything before them. */
    args?: string[];
    /** Replaces the whole `/usr/bin/python3 -m jupyter_server --config=<configFile>` prefix. */
    command?: string[];
    /** Extra environment, applied last. */
    env?: Record<string, string>;
    /** Whether the server speaks TLS (sets baseUrl's scheme only); default true. */
    https?: boolean;
    /** Port to listen on; default a free one. */
    port?: number;
    /** Run as this uid/gid (we are root here, and Jupyter refuses root without --allow-root). */
    uid?: number;
    gid?: number;
    /** Upper bound for the server to accept connections; default 30 s. */
    startTimeoutMs?: number;
}

// Servers still running when the test process exits (a failed before(), a crash) die with it.
const running = new Set<ChildProcess>();
process.on("exit", () => {
    for (const child of running) {
        child.kill("SIGKILL");
    }
});

function accepts(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = connect({ host: "127.0.0.1", port });
        socket.setTimeout(1000);
        socket.once("connect", () => {
            socket.destroy();
            resolve(true);
        });
        socket.once("timeout", () => {
            socket.destroy();
            resolve(false);
        });
        socket.once("error", () => resolve(false));
    });
}

function exited(child: ChildProcess): boolean {
    return child.exitCode !== null || child.signalCode !== null;
}

/** The environment a server gets: the caller's, minus anything that would point Python or Jupyter elsewhere. */
function serverEnvironment(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) {
        if (/^(JUPYTER_|PYTHON|VIRTUAL_ENV$|PYENV)/.test(name)) {
            delete env[name];
        }
    }
    return {
        ...env,
        HOME: home,
        JUPYTER_CONFIG_DIR: path.join(home, ".jupyter"),
        JUPYTER_DATA_DIR: path.join(home, ".local/share/jupyter"),
        JUPYTER_RUNTIME_DIR: path.join(home, ".local/share/jupyter/runtime"),
        ...extra,
    };
}

/**
 * Starts `/usr/bin/python3 -m jupyter_server --config=<configFile>` (or options.command) on 127.0.0.1 with a
 * private HOME/JUPYTER_* dirs, extra args appended, waits (bounded) until it accepts connections.
 * The listen flags `--ServerApp.ip=127.0.0.1 --ServerApp.port=<port> --ServerApp.port_retries=0
 * --ServerApp.open_browser=False` come after the command: command-line settings override the config
 * file, so whatever address and port the file names, the server only ever listens here.
 */
export async function startJupyter(options: StartJupyterOptions): Promise<JupyterServer> {
    refuseInUnitRun("a Jupyter server");
    const port = options.port ?? await freePort();
    const [executable, ...prefix] = options.command ?? [...JUPYTER_SERVER_COMMAND, `--config=${options.configFile}`];
    const args = [
        ...prefix,
        "--ServerApp.ip=127.0.0.1",
        `--ServerApp.port=${port}`,
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        ...(options.args ?? []),
    ];
    const startedAt = performance.now();
    const child = spawn(executable, args, {
        cwd: options.cwd,
        env: serverEnvironment(options.home, options.env ?? {}),
        stdio: ["ignore", "pipe", "pipe"],
        uid: options.uid,
        gid: options.gid,
    });
    running.add(child);
    let output = "";
    const collect = (chunk: Buffer) => {
        output += chunk.toString("utf8");
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const exit = new Promise<void>((resolve) => child.once("exit", () => {
        running.delete(child);
        resolve();
    }));
    child.once("error", (error) => {
        output += `\n[spawn error] ${error.message}\n`;
    });

    const stop = async () => {
        if (exited(child) || child.pid === undefined) {
            return;
        }
        child.kill("SIGTERM");
        const stopped = await settlesWithin(exit, 5000);
        if (!stopped) {
            child.kill("SIGKILL");
            await settlesWithin(exit, 2000);
        }
    };
    const server: JupyterServer = {
        port,
        baseUrl: `${options.https === false ? "http" : "https"}://127.0.0.1:${port}`,
        process: child,
        output: () => output,
        stop,
        startedAt,
    };

    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const intervalMs = 100;
    for (let attempt = 0; attempt < timeoutMs / intervalMs; attempt++) {
        if (exited(child) || child.pid === undefined) {
            await delay(50); // let the last output arrive
            throw new Error(`Jupyter exited before accepting connections (${args.join(" ")}):\n${output}`);
        }
        if (await accepts(port)) {
            return server;
        }
        await delay(intervalMs);
    }
    await stop();
    throw new Error(`Jupyter did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms:\n${output}`);
}
