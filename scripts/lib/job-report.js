// Words for what the machine reports as JSON (on stdin): `jobs` makes the table of npm run jobs
// from the job runner's `list --json`, `status` the lines of npm run status from the idle
// watcher's `status --json`, `setup` npm run setup-log from gpu-notebook-setup's `show`.
// Here rather than on the machine: times come out on this computer's clock, and the runner stays
// small enough for the instance's 16 KB of user data.
// @ts-check
"use strict";

const { localTime: clockTime, readJson } = require("./cli");

/**
 * What the machine reports (components/boot/gpu-notebook-job, idle-watcher.py): times in epoch seconds.
 * @typedef {{ since: number, quiet_since: number }} Stall
 * @typedef {{ name: string, state: string, exit_code: number | null, restarts?: number,
 *     started_at: number, ended_at?: number | null, command?: string[], stalled?: Stall | null,
 *     interrupted_reason?: string | null }} Job
 * @typedef {{ name: string, started_at: number | null, counted: boolean, stalled_at: number | null, quiet_since: number }} JobCondition
 * @typedef {{ jobs: JobCondition[], kernels: { last_activity: number | null, counted: boolean },
 *     ssh: { connections: number, in_use: number }, gpu: { percent: number | null, counted: boolean },
 *     cpu: { percent: number | null, counted: boolean } }} Conditions
 * @typedef {{ verdict?: string, reason?: string, limit?: number, minutes_left?: number,
 *     idle_seconds?: number, checked_at?: number, conditions?: Conditions }} Idle
 * @typedef {{ time: number, channel: string, event: string, detail: string }} Delivery
 * @typedef {{ name: string, utilization_percent: number, memory_used_mib: number, memory_total_mib: number }} Gpu
 * @typedef {{ used_bytes: number, total_bytes: number, own_volume: boolean, path: string }} Disk
 * @typedef {{ outcome: string, ran?: boolean, reason?: string, started_at: number, ended_at?: number | null,
 *     exit_code?: number | null, error?: string, log?: string, instance_id?: string | null }} Setup
 * @typedef {{ now: number, jobs: Job[], uptime_seconds: number, idle?: Idle, idle_error?: string,
 *     gpus?: Gpu[], gpu_error?: string, disk?: Disk, disk_error?: string,
 *     update_pending?: string, bundle_failed?: string, setup?: Setup | null, setup_file?: string | null,
 *     notify?: { last_failure: Delivery | null, last_delivered: Delivery | null } | null }} Report
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
    return clockTime(new Date(seconds * 1000));
}

/**
 * A command line as a POSIX shell would read it back.
 * @param {string[] | undefined} words
 */
function shellJoin(words) {
    return (words || []).map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\"'\"'")}'`)).join(" ");
}

/**
 * A time today as HH:MM, an earlier one with its date, on this computer's clock.
 * @param {number} seconds
 */
function clock(seconds) {
    const text = localTime(seconds);
    return text.slice(0, 10) === localTime(now).slice(0, 10) ? text.slice(11) : text;
}

/**
 * "stalled since 14:02: no output, no CPU, GPU idle for 60 min"
 * @param {number} since
 * @param {number} quietSince
 */
function stalledWords(since, quietSince) {
    return `stalled since ${clock(since)}: no output, no CPU, GPU idle for ${duration(now - quietSince)}`;
}

/** @param {Job} job */
function jobState(job) {
    let state = job.state;
    if (job.state === "running" && job.stalled) {
        state = stalledWords(job.stalled.since, job.stalled.quiet_since);
    } else if (job.state === "interrupted" && job.interrupted_reason) {
        state += ` (${job.interrupted_reason})`;
    } else if ((state === "failed" || state === "stopped") && job.exit_code !== null) {
        state += ` (exit ${job.exit_code})`;
    }
    return job.restarts ? `${state}, restarted ${job.restarts}` : state;
}

function jobsTable() {
    if (report.jobs.length === 0) {
        return "No jobs yet: start one with npm run job -- python train.py";
    }
    const rows = [["NAME", "STATE", "STARTED", "DURATION", "COMMAND"]];
    for (const job of report.jobs) {
        const state = jobState(job);
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
    } else if (idle.conditions) {
        text = conditionWords(idle, idle.conditions);
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
 * Every idle condition with its state and age: "kept up by: job train-3 (running 2 h 10 min);
 * kernels: idle 45 min; SSH: none in use; GPU: 0 %; stops in 15 min unless one of these changes".
 * @param {Idle} idle
 * @param {Conditions} conditions
 */
function conditionWords(idle, conditions) {
    const checked = idle.checked_at ?? now;
    const percent = (/** @type {number | null} */ value) => (value === null ? "unknown" : `${Math.round(value)} %`);
    /** @type {[boolean, string][]} counted or not, and its words */
    const parts = conditions.jobs.map((job) => /** @type {[boolean, string]} */ ([job.counted, job.stalled_at === null
        ? `job ${job.name} (running ${duration(now - (job.started_at ?? now))})`
        : `job ${job.name} (${stalledWords(job.stalled_at, job.quiet_since)}; it no longer keeps the machine up)`]));
    const kernel = conditions.kernels;
    parts.push([kernel.counted, `kernels: ${kernel.last_activity === null ? "none in use" : kernel.counted && kernel.last_activity >= checked
        ? "busy" : `idle ${duration(checked - kernel.last_activity)}`}`]);
    const ssh = conditions.ssh;
    parts.push([ssh.in_use > 0, `SSH: ${ssh.in_use ? `${ssh.in_use} in use` : "none in use"}${ssh.connections > ssh.in_use ? ` (${ssh.connections - ssh.in_use} open, idle)` : ""}`]);
    parts.push([conditions.gpu.counted, `GPU: ${percent(conditions.gpu.percent)}`]);
    parts.push([conditions.cpu.counted, `CPU: ${percent(conditions.cpu.percent)}`]);
    const keeping = parts.filter(([counted]) => counted).map(([, words]) => words);
    const rest = parts.filter(([counted]) => !counted).map(([, words]) => words);
    const end = keeping.length
        ? `stops ${idle.limit} min after these end`
        : `stops in ${idle.minutes_left} min unless one of these changes`;
    return [keeping.length ? `kept up by: ${keeping.join("; ")}` : "nothing keeps it up", ...rest, end].join("; ");
}

/** The last failed notification, if it came after the last delivered one (the delivery log's). */
function notifyLine() {
    const failure = report.notify?.last_failure;
    const delivered = report.notify?.last_delivered;
    if (!failure) {
        return delivered ? `last one delivered at ${clock(delivered.time)} (${delivered.event}, ${delivered.channel})` : null;
    }
    const words = `the ${failure.event} notification to ${failure.channel} FAILED at ${clock(failure.time)}: ${failure.detail}`;
    return delivered && delivered.time > failure.time ? `${words}; delivered since: ${clock(delivered.time)} (${delivered.event})` : words;
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
    const running = report.jobs.map((job) => `${job.name} (${duration(now - job.started_at)}: ${shellJoin(job.command)})` +
        (job.stalled ? `, ${stalledWords(job.stalled.since, job.stalled.quiet_since)}` : ""));
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
    const notify = notifyLine();
    if (notify) {
        lines.push(`Notify:      ${notify}`);
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
