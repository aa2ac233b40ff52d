// npm run bench:plan: how long `npm run plan` takes for a class of 50 notebooks. Runs the plan's
// own command (scripts/plan.ts through scripts/lib/ts-require.js) on a generated stack file 3 times, each in a fresh
// process as a user would, and prints every run's wall and CPU time, their medians, and the
// machine's load, which on a shared machine moves the wall time more than the code does.
// Linux only (the CPU time is read from /proc).
// With --candidates, every notebook has three candidate types (instanceTypes), each looked up.
// Usage: npm run bench:plan [-- --notebooks N] [-- --runs N] [-- --candidates]
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { cpus, loadavg, tmpdir } from "os";
import * as path from "path";

const root = path.join(__dirname, "..");

function option(argv: string[], name: string, fallback: number): number {
    const index = argv.indexOf(name);
    const value = index >= 0 ? Number(argv[index + 1]) : fallback;
    if (!Number.isInteger(value) || value < 1) {
        throw new Error(`${name} takes a whole number above 0`);
    }
    return value;
}

/** A stack file like an instructor's: top-level defaults, one entry per student, a few overrides. */
function classConfig(notebooks: number, candidates: boolean): string {
    const lines = [
        "config:",
        "  aws:region: us-east-1",
        "  gpu-notebook:allowedCidrs:",
        "    - 198.51.100.0/24",
        "  gpu-notebook:monthlyBudgetUsd: 500",
        "  gpu-notebook:alertEmail: teacher@example.org",
        ...(candidates ? ["  gpu-notebook:instanceTypes:", "    - g5.xlarge", "    - g6.xlarge", "    - g4dn.xlarge"] : []),
        "  gpu-notebook:notebooks:",
    ];
    for (let index = 1; index <= notebooks; index++) {
        const name = `student-${String(index).padStart(2, "0")}`;
        lines.push(index % 10 === 0 ? `    ${name}:\n      instanceType: g5.xlarge` : `    ${name}: {}`);
    }
    return `${lines.join("\n")}\n`;
}

/**
 * CPU seconds (user and system) of this process's finished children, from Linux's /proc (cutime
 * and cstime, in clock ticks of 1/100 s): unlike wall time, it hardly moves with the machine's load.
 */
function childrenCpuSeconds(): number {
    // The fields after the command name, which is in parentheses and may hold spaces.
    const fields = readFileSync("/proc/self/stat", "utf8").replace(/^.*\) /s, "").split(" ");
    // cutime and cstime are the 16th and 17th fields; these fields start at the 3rd.
    return (Number(fields[13]) + Number(fields[14])) / 100;
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function main(argv: string[]): void {
    const notebooks = option(argv, "--notebooks", 50);
    const runs = option(argv, "--runs", 3);
    const dir = mkdtempSync(path.join(tmpdir(), "gpu-notebook-bench-"));
    try {
        const configFile = path.join(dir, "Pulumi.class.yaml");
        const candidates = argv.includes("--candidates");
        writeFileSync(configFile, classConfig(notebooks, candidates));
        console.log(`npm run plan for ${notebooks} notebooks${candidates ? " of 3 candidate types" : ""}, ${runs} runs; ${cpus().length} cores, ` +
            `load average ${loadavg().map((load) => load.toFixed(2)).join(" ")} before`);
        const wall: number[] = [];
        const cpu: number[] = [];
        for (let run = 1; run <= runs; run++) {
            const started = process.hrtime.bigint();
            const result = spawnSync("node", ["--require", "./scripts/lib/ts-require.js", "scripts/plan.ts", "--config-file", configFile], {
                cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024,
            });
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            if (result.status !== 0) {
                throw new Error(`the plan failed:\n${result.stderr}`);
            }
            const lines = result.stdout.split("\n").length;
            // The finished children's CPU time so far, less the earlier runs': this run's.
            const childCpu = childrenCpuSeconds() - cpu.reduce((sum, value) => sum + value, 0);
            wall.push(seconds);
            cpu.push(childCpu);
            console.log(`  run ${run}: ${seconds.toFixed(2)} s wall, ${childCpu.toFixed(2)} s CPU, ${lines} lines of plan`);
        }
        console.log(`median: ${median(wall).toFixed(2)} s wall, ${median(cpu).toFixed(2)} s CPU ` +
            `(load average ${loadavg().map((load) => load.toFixed(2)).join(" ")} after)`);
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

main(process.argv.slice(2));
