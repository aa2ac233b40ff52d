// shellcheck over many scripts without a wait that depends on the machine: each script is checked
// once, in its own process, as many at a time as there are cores, and a pass is remembered outside
// the tree (node_modules/.cache) under a key of everything that decides it: the script, every file
// it sources (followed as `shellcheck -x` follows them), the options and shellcheck's version. A
// re-run then checks only what changed; one shellcheck over every script took 19 s here, 59 s
// under four test workers, and hit the test's old 60 s timeout.
import { execFileSync, spawn } from "child_process";
import { createHash } from "crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "fs";
import { cpus } from "os";
import * as path from "path";

const OPTIONS = ["-x"];
const SOURCE_DIRECTIVE = /^\s*#\s*shellcheck\s+source=(\S+)/gm;
/** `. path` or `source path` with a literal path (shellcheck -x follows only those, or a directive). */
const LITERAL_SOURCE = /^\s*(?:\.|source)\s+["']?([^"'\s$`;&|]+)["']?\s*(?:$|[;&|#])/gm;

/**
 * Every file `file` sources, directly or through another, relative to `cwd` (where shellcheck
 * runs): a directive's path is relative to it, SCRIPTDIR/ to the sourcing file's folder.
 */
export function sourcesOf(file: string, cwd: string): string[] {
    const found = new Set<string>();
    const visit = (current: string) => {
        const text = existsSync(path.resolve(cwd, current)) ? readFileSync(path.resolve(cwd, current), "utf8") : "";
        for (const match of [...text.matchAll(SOURCE_DIRECTIVE), ...text.matchAll(LITERAL_SOURCE)]) {
            const named = match[1].startsWith("SCRIPTDIR/")
                ? path.join(path.dirname(current), match[1].slice("SCRIPTDIR/".length)) : match[1];
            const relative = path.relative(cwd, path.resolve(cwd, named));
            if (!found.has(relative) && relative !== file) {
                found.add(relative);
                visit(relative);
            }
        }
    };
    visit(file);
    return [...found].sort();
}

/** What decides shellcheck's verdict on `file`, hashed. A missing source counts as missing. */
export function verdictKey(file: string, cwd: string, version: string): string {
    const hash = createHash("sha256").update(`${version}\0${OPTIONS.join(" ")}\0${path.extname(file)}\0`);
    for (const each of [file, ...sourcesOf(file, cwd)]) {
        const full = path.resolve(cwd, each);
        hash.update(`${each === file ? "" : each}\0`).update(existsSync(full) ? readFileSync(full) : "\0missing\0").update("\0");
    }
    return hash.digest("hex");
}

export interface Shellchecked {
    /** What shellcheck said of each script that did not pass. */
    failures: { file: string; output: string }[];
    /** How many scripts shellcheck ran on (the others passed before, unchanged). */
    checked: number;
}

/** shellcheck -x on each of `files` (relative to `cwd` or absolute), in parallel, passes remembered in `cacheDir`. */
export async function shellcheckEach(files: string[], cwd: string, cacheDir: string): Promise<Shellchecked> {
    const version = execFileSync("shellcheck", ["--version"], { encoding: "utf8" });
    mkdirSync(cacheDir, { recursive: true });
    const unknown = files.map((file) => ({ file, passed: path.join(cacheDir, verdictKey(file, cwd, version)) }))
        .filter((each) => !existsSync(each.passed));
    const failures: Shellchecked["failures"] = [];
    const check = async ({ file, passed }: { file: string; passed: string }) => {
        const { status, output } = await new Promise<{ status: number | null; output: string }>((resolve) => {
            const child = spawn("shellcheck", [...OPTIONS, file], { cwd, stdio: ["ignore", "pipe", "pipe"] });
            let text = "";
            child.stdout.on("data", (chunk) => { text += chunk; });
            child.stderr.on("data", (chunk) => { text += chunk; });
            child.on("close", (code) => resolve({ status: code, output: text }));
        });
        if (status === 0) {
            // Whole, then renamed: a run alongside never reads a half-written verdict.
            writeFileSync(`${passed}.${process.pid}`, `${file}\n`);
            renameSync(`${passed}.${process.pid}`, passed);
        } else {
            failures.push({ file, output: output || `shellcheck exited with ${status}` });
        }
    };
    const queue = [...unknown];
    await Promise.all(Array.from({ length: Math.max(1, cpus().length) }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
            await check(next);
        }
    }));
    return { failures, checked: unknown.length };
}
