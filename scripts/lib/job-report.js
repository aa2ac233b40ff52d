// Words for what the machine reports as JSON (on stdin): `jobs` makes the table of npm run jobs
// from the job runner's `list --json`, `status` the lines of npm run status from its
// `status --json`, `setup` npm run setup-log from gpu-notebook-setup's `show`.
// Here rather than on the machine: times come out on this computer's clock, and the runner stays
// small enough for the instance's 16 KB of user data.
// @ts-check
"use strict";

const { readJson } = require("./cli");

/**
 * What the runner reports (components/boot/gpu-notebook-job): times in epoch seconds.
 * @typedef {{ name: string, state: string, exit_code: number | null, restarts?: number,
 *     started_at: number, ended_at?: number | null, command?: string[] }} Job
 * @typedef {{ verdict?: string, reason?: string, limit?: number, minutes_left?: number,
 *     idle_seconds?: number, checked_at?: number }} Idle
 * @typedef {{ name: string, utilization_percent: number, memory_used_mib: number, memory_total_mib: number }} Gpu
 * @typedef {{ used_bytes: number, total_bytes: number, own_volume: boolean, path: string }} Disk
 * @typedef {{ outcome: string, ran?: boolean, reason?: string, started_at: number, ended_at?: number | null,
 *     exit_code?: number | null, error?: string, log?: string, instance_id?: string | null }} Setup
 * @typedef {{ now: number, jobs: Job[], uptime_seconds: number, idle?: Idle, idle_error?: string,
 *     gpus?: Gpu[], gpu_error?: string, disk?: Disk, disk_error?: string,
 *     update_pending?: string, bundle_failed?: string, setup?: Setup | null, setup_file?: string | null }} Report
 * @typedef {{ now?: number, state: Setup | null, setup_file: string, log_path: string, log: string | null }} SetupShow
 */

const report = /** @type {Report} */ (readJson("the machine's report"));
// Durations against the machine's clock, which also stamped the times.
const now = report.now ?? Date.now() / 1000;

/** @param {number} seconds */
function duration(seconds) {
    const minutes = Math.floor(Math.max(0, seconds) / 60);
    if (minutes === 0) {
        return `${Math.floor(Math.max(0, seconds))} s`;
    }
    return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * Epoch seconds as YYYY-MM-DD HH:MM on this computer's clock.
 * @param {number} seconds
 */
function localTime(seconds) {
    const date = new Date(seconds * 1000);
    const two = (/** @type {number} */ value) => String(value).padStart(2, "0");
    return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}`;
}

/**
 * A command line as a POSIX shell would read it back.
 * @param {string[] | undefined} words
 */
function shellJoin(words) {
    return (words || []).map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\"'\"'")}'`)).join(" ");
}

function jobsTable() {
    if (report.jobs.length === 0) {
        return "No jobs yet: start one with npm run job -- python train.py";
    }
    const rows = [["NAME", "STATE", "STARTED", "DURATION", "COMMAND"]];
    for (const job of report.jobs) {
        let state = job.state;
        if ((state === "failed" || state === "stopped") && job.exit_code !== null) {
            state += ` (exit ${job.exit_code})`;
        }
        if (job.restarts) {
            state += `, restarted ${job.restarts}`;
        }
        const end = job.ended_at ?? (job.state === "running" ? now : null);
        rows.push([job.name, state, localTime(job.started_at), end === null ? "-" : duration(end - job.started_at), shellJoin(job.command)]);
    }
    const widths = [0, 1, 2, 3].map((column) => Math.max(...rows.map((row) => row[column].length)));
    return rows.map((row) => row.map((cell, column) => (column < 4 ? cell.padEnd(widths[column]) : cell)).join("  ")).join("\n");
}

/**
 * The idle watcher's last verdict (its state file's fields) in words.
 * @param {Idle} idle
 */
function idleLine(idle) {
    const reason = String(idle.reason || "");
    let text;
    if (idle.verdict === "stop") {
        text = `stopping the machine now (${reason})`;
    } else if (idle.limit === 0 || typeof idle.minutes_left !== "number") {
        text = "off (idleStopMinutes is 0)";
    } else if (reason.startsWith("active:")) {
        text = `kept up by ${reason.slice("active:".length).split(",").join(", ")}; stops ${idle.limit} min after the last activity`;
    } else {
        text = `idle for ${duration(idle.idle_seconds || 0)}; stops in ${idle.minutes_left} min unless something starts`;
    }
    if (typeof idle.checked_at === "number" && now - idle.checked_at > 180) {
        text += ` (last checked ${duration(now - idle.checked_at)} ago: is the idle watcher running?)`;
    }
    return text;
}

/**
 * A path in the notebook user's home as the user writes it.
 * @param {string} file
 */
function fromHome(file) {
    return file.replace(/^\/home\/[^/]+\//, "~/");
}

/**
 * The last run of the setup file on this machine (gpu-notebook-setup's record) in words.
 * @param {Setup | null | undefined} setup
 * @param {string} setupFile where the setup file is, for when no run says it
 */
function setupLine(setup, setupFile) {
    if (!setup) {
        return `none has run on this machine (an executable ${fromHome(setupFile)} runs on every new machine)`;
    }
    if (setup.outcome === "absent") {
        return `no setup file (an executable ${fromHome(setupFile)} runs on every new machine)`;
    }
    const log = setup.log ? `; its output: npm run setup-log (${fromHome(setup.log)})` : "";
    const at = localTime(setup.started_at);
    if (setup.outcome === "running") {
        return `started ${at} (${setup.reason}) and has not ended: running, or the machine restarted during it${log}`;
    }
    const took = duration((setup.ended_at ?? setup.started_at) - setup.started_at);
    if (setup.outcome === "succeeded") {
        return `succeeded ${at} (${setup.reason}), in ${took}${log}`;
    }
    const why = setup.error ?? `exit status ${setup.exit_code}`;
    return `FAILED ${at} (${setup.reason}): ${setup.outcome}, ${why}, after ${took}; the notebook server started anyway${log}. ` +
        "Fix it, then run it again: npm run setup-log -- --run";
}

function setupReport() {
    const shown = /** @type {SetupShow} */ (/** @type {unknown} */ (report));
    const lines = [`Setup:       ${setupLine(shown.state, shown.setup_file)}`];
    if (shown.log !== null) {
        lines.push(`--- ${fromHome(shown.log_path)} ---`, shown.log.replace(/\n$/, ""));
    }
    return lines.join("\n");
}

function statusLines() {
    const lines = [
        `Up for:      ${duration(report.uptime_seconds)}`,
        `Idle stop:   ${report.idle ? idleLine(report.idle) : report.idle_error}`,
    ];
    const running = report.jobs.map((job) => `${job.name} (${duration(now - job.started_at)}: ${shellJoin(job.command)})`);
    lines.push(`Jobs:        ${running.length ? running.join("; ") : "none running"}`);
    for (const gpu of report.gpus || []) {
        lines.push(`GPU:         ${gpu.name}, ${Math.round(gpu.utilization_percent)}% busy, ` +
            `${Math.round(gpu.memory_used_mib)} of ${Math.round(gpu.memory_total_mib)} MiB memory used`);
    }
    if (report.gpu_error) {
        lines.push(`GPU:         ${report.gpu_error}`);
    }
    const disk = report.disk;
    if (disk) {
        const gib = (/** @type {number} */ bytes) => (bytes / 1024 ** 3).toFixed(1);
        lines.push(`Notebooks:   ${gib(disk.used_bytes)} of ${gib(disk.total_bytes)} GiB used ` +
            `(${Math.round((100 * disk.used_bytes) / Math.max(1, disk.total_bytes))}%) on ` +
            `${disk.own_volume ? "the data volume" : "the root disk"}, ${disk.path}`);
    } else {
        lines.push(`Notebooks:   unknown (${report.disk_error})`);
    }
    if (report.update_pending) {
        lines.push(`Update:      an update waits for a restart: the notebook server takes ${report.update_pending} at its next start ` +
            "(npm run stop, then npm run start; running kernels end then)");
    }
    if (report.bundle_failed) {
        lines.push(`Set-up:      ${report.bundle_failed}`);
    }
    if (report.setup_file) {
        lines.push(`Setup:       ${setupLine(report.setup, report.setup_file)}`);
    }
    return lines.join("\n");
}

const render = /** @type {Record<string, (() => string) | undefined>} */ ({ jobs: jobsTable, status: statusLines, setup: setupReport })[process.argv[2]];
if (!render) {
    console.error("usage: job-report.js jobs|status|setup < machine-json");
    process.exit(2);
}
console.log(render());
