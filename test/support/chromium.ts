// Headless Debian Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
// no browser download, no driver library whose expected browser version can drift from Debian's,
// and no debugging port listening anywhere; only the pages the test names are loaded.
import { ChildProcess, spawn } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { Readable, Writable } from "stream";

import { delay, refuseInUnitRun, settlesWithin } from "./system";

export const CHROMIUM = "/usr/bin/chromium";

/** Flags for a closed network: nothing phones home, nothing updates, no QUIC, no sandbox (we are root). */
export const CLOSED_NETWORK_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

interface Pending {
    resolve(result: any): void; // any: CDP results are untyped JSON
    reject(error: Error): void;
}

// any: CDP event parameters are untyped JSON
type EventListener = (params: any, sessionId?: string) => void;

/** A page in the browser, reached through its flattened DevTools session. */
export interface Page {
    send(method: string, params?: Record<string, unknown>): Promise<any>; // any: CDP results are untyped
    /** Resolves with the next event of this name on this page; rejects after timeoutMs. */
    next(event: string, timeoutMs: number): Promise<any>; // any: CDP events are untyped
    /** Evaluates a JavaScript expression in the page and returns its (JSON) value. */
    evaluate<T>(expression: string): Promise<T>;
}

export class Chromium {
    private nextId = 1;
    private readonly pending = new Map<number, Pending>();
    private readonly listeners = new Set<{ event: string; sessionId?: string; listener: EventListener }>();
    private buffer = "";
    private log = "";
    private readonly exit: Promise<void>;

    private constructor(private readonly child: ChildProcess, private readonly profile: string) {
        const input = child.stdio[4] as Readable;
        input.on("data", (chunk: Buffer) => this.receive(chunk.toString("utf8")));
        child.stderr?.on("data", (chunk: Buffer) => {
            this.log += chunk.toString("utf8");
        });
        this.exit = new Promise((resolve) => child.once("exit", () => {
            for (const pending of this.pending.values()) {
                pending.reject(new Error(`Chromium exited:\n${this.log}`));
            }
            this.pending.clear();
            resolve();
        }));
    }

    /** Starts Chromium with a fresh profile; extra flags (for example a certificate pin) appended. */
    static launch(extraFlags: string[]): Chromium {
        refuseInUnitRun("Chromium");
        const profile = mkdtempSync(path.join(tmpdir(), "gpu-notebook-chromium-"));
        const child = spawn(CHROMIUM, [
            ...CLOSED_NETWORK_FLAGS,
            `--user-data-dir=${profile}`,
            "--remote-debugging-pipe",
            ...extraFlags,
            "about:blank",
        ], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
        return new Chromium(child, profile);
    }

    /** What the browser printed, for failure messages. */
    output(): string {
        return this.log;
    }

    private receive(text: string): void {
        this.buffer += text;
        let end: number;
        while ((end = this.buffer.indexOf("\0")) >= 0) {
            const message = JSON.parse(this.buffer.slice(0, end));
            this.buffer = this.buffer.slice(end + 1);
            if (message.id !== undefined) {
                const pending = this.pending.get(message.id);
                this.pending.delete(message.id);
                if (message.error) {
                    pending?.reject(new Error(`${message.error.message} (${JSON.stringify(message.error)})`));
                } else {
                    pending?.resolve(message.result);
                }
            } else {
                for (const entry of [...this.listeners]) {
                    if (entry.event === message.method && entry.sessionId === message.sessionId) {
                        entry.listener(message.params, message.sessionId);
                    }
                }
            }
        }
    }

    send(method: string, params: Record<string, unknown> = {}, sessionId?: string, timeoutMs = 15_000): Promise<any> { // any: CDP results are untyped
        const id = this.nextId++;
        const output = this.child.stdio[3] as Writable;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.pending.delete(id);
                reject(new Error(`no answer to ${method} within ${timeoutMs} ms:\n${this.log}`));
            }, timeoutMs);
            this.pending.set(id, {
                resolve: (result) => {
                    clearTimeout(timer);
                    resolve(result);
                },
                reject: (error) => {
                    clearTimeout(timer);
                    reject(error);
                },
            });
            output.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + "\0");
        });
    }

    next(event: string, sessionId: string | undefined, timeoutMs: number): Promise<any> { // any: CDP events are untyped
        return new Promise((resolve, reject) => {
            const entry = {
                event,
                sessionId,
                listener: (params: unknown) => {
                    clearTimeout(timer);
                    this.listeners.delete(entry);
                    resolve(params);
                },
            };
            const timer = setTimeout(() => {
                this.listeners.delete(entry);
                reject(new Error(`no ${event} within ${timeoutMs} ms`));
            }, timeoutMs);
            this.listeners.add(entry);
        });
    }

    /** Opens a new page (tab) and attaches to it. */
    async newPage(): Promise<Page> {
        const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
        const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
        const page: Page = {
            send: (method, params) => this.send(method, params ?? {}, sessionId),
            next: (event, timeoutMs) => this.next(event, sessionId, timeoutMs),
            evaluate: async <T>(expression: string): Promise<T> => {
                const { result, exceptionDetails } = await this.send("Runtime.evaluate", {
                    expression, returnByValue: true, awaitPromise: true,
                }, sessionId);
                if (exceptionDetails) {
                    throw new Error(`page script failed: ${JSON.stringify(exceptionDetails)}`);
                }
                return result.value as T;
            },
        };
        await page.send("Page.enable");
        return page;
    }

    /** Closes the browser (bounded), kills it if it lingers, and removes its profile. */
    async close(): Promise<void> {
        if (this.child.exitCode === null && this.child.signalCode === null) {
            await this.send("Browser.close", {}, undefined, 5000).catch(() => undefined);
            const closed = await settlesWithin(this.exit, 5000);
            if (!closed) {
                this.child.kill("SIGKILL");
                await settlesWithin(this.exit, 2000);
            }
        }
        rmSync(this.profile, { recursive: true, force: true });
    }
}

/** Navigates and waits for the load event; fails with Chromium's error text (e.g. a certificate error). */
export async function navigate(page: Page, url: string, timeoutMs = 15_000): Promise<void> {
    const loaded = page.next("Page.loadEventFired", timeoutMs);
    const { errorText } = await page.send("Page.navigate", { url });
    if (errorText) {
        loaded.catch(() => undefined);
        throw new Error(`Chromium could not load ${url}: ${errorText}`);
    }
    await loaded;
}

/** Polls a page expression until it is true; bounded in count and time. */
export async function waitFor(page: Page, expression: string, timeoutMs = 15_000, intervalMs = 100): Promise<void> {
    for (let attempt = 0; attempt < timeoutMs / intervalMs; attempt++) {
        if (await page.evaluate<boolean>(`Boolean(${expression})`).catch(() => false)) {
            return;
        }
        await delay(intervalMs);
    }
    const where = await page.evaluate<string>("location.href").catch(() => "?");
    throw new Error(`page never satisfied ${expression} within ${timeoutMs} ms (at ${where})`);
}
