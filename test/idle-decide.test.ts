// The idle watcher's decision (components/boot/idle-watcher.py decide), in tables: what it saw,
// the last check's state and the limits in, the verdict and the next state out. decide does no
// I/O, so every row runs in one Debian Python process; each limit is tested on both sides of its
// edge. The observing and the acting are proved against real processes in idle-watcher.test.ts.
import { strict as assert } from "assert";
import { execFileSync } from "child_process";

import { IDLE_WATCHER } from "./support/scripts";
import { DEBIAN_PYTHON, requireCommands } from "./support/system";

const MINUTE = 60;
const NOW = 1_800_000_000;
const BOOT = NOW - 24 * 60 * MINUTE;

interface JobSeen {
    name: string; state: string; ended_at?: number | null; stop_when_done?: boolean; started_at?: number | null;
    log_size?: number | null; cpu_percent?: number | null;
}
interface SshSeen { peer: string; terminal?: string; terminal_at?: number; command?: string }
interface Observations {
    now: number; boot_time: number; tag_minutes?: number | null; jupyter_at?: number | null;
    jobs?: JobSeen[] | null; ssh?: SshSeen[] | null; cpu_percent?: number | null; gpu_loads?: number[] | null;
}
interface Limits { default_minutes: number; cpu_threshold: number; gpu_threshold: number; idle_minutes?: number | null; stall_minutes?: number }
interface Verdict {
    verdict: string; reason: string; minutes: number; source: string; idle: number; last_active: number; active: string[];
    running: string[]; interrupted: string[]; done: string[]; ssh: [boolean, string, string][]; state: Record<string, unknown>;
    stalled: string[]; events: { event: string; job: string; since: number; quiet_since: number }[];
}

/** One row: what differs from an idle machine at NOW, 30 min after the last activity, limit 60 min (the tag). */
interface Row {
    what: string;
    seen?: Partial<Observations>;
    state?: Record<string, unknown>;
    limits?: Partial<Limits>;
    expect: Partial<Omit<Verdict, "state">> & { minutes_left?: number | null; quiet_since?: number };
}

const IDLE: Observations = { now: NOW, boot_time: BOOT, tag_minutes: 60, jupyter_at: null, jobs: [], ssh: [], cpu_percent: 0, gpu_loads: [0] };
const LIMITS: Limits = { default_minutes: 45, cpu_threshold: 10, gpu_threshold: 5, stall_minutes: 0 };
const since = (minutes: number) => ({ last_active: NOW - minutes * MINUTE, limit: 60 });
const ended = (name: string, minutesAgo: number, stopWhenDone = false): JobSeen =>
    ({ name, state: "succeeded", ended_at: NOW - minutesAgo * MINUTE, stop_when_done: stopWhenDone });
const terminal = (minutesIdle: number): SshSeen => ({ peer: "198.51.100.7:50000", terminal: "pts/0", terminal_at: NOW - minutesIdle * MINUTE });

const STALL = { stall_minutes: 30 };
/** A running job "train" whose log holds 1000 bytes and whose process tree uses no CPU. */
const train = (change: Partial<JobSeen> = {}): JobSeen => ({ name: "train", state: "running", started_at: NOW - 5 * 60 * MINUTE, log_size: 1000, cpu_percent: 0, ...change });
/** A state in which "train" has been quiet for `seconds` (stalled since `stalledAt`, if given), the idle clock moved by it a check ago. */
const quietFor = (seconds: number, stalledAt: number | null = null) => ({
    last_active: NOW - 60 * MINUTE, limit: 60, jobs: { train: { quiet_since: NOW - seconds, stalled_at: stalledAt, log_size: 1000 } },
});

const ROWS: Row[] = [
    // The limit: idle for it (or more) stops; a second less keeps.
    { what: "idle one second under the limit", state: { last_active: NOW - 60 * MINUTE + 1 },
        expect: { verdict: "keep", reason: "idle_under_the_limit", minutes_left: 1, active: [] } },
    { what: "idle exactly the limit", state: since(60), expect: { verdict: "stop", reason: "idle_for_the_limit", minutes_left: 0 } },
    { what: "idle past the limit", state: since(61), expect: { verdict: "stop", idle: 61 * MINUTE } },
    { what: "the first check of a boot starts the idle clock", state: {}, expect: { verdict: "keep", idle: 0, last_active: NOW, minutes_left: 60 } },
    // Where the limit comes from.
    { what: "the tag's limit", seen: { tag_minutes: 15 }, state: since(15), expect: { verdict: "stop", minutes: 15, source: "tag" } },
    { what: "the tag's limit, a second short", seen: { tag_minutes: 15 }, state: { last_active: NOW - 15 * MINUTE + 1 },
        expect: { verdict: "keep", source: "tag" } },
    { what: "an option overrides the tag", limits: { idle_minutes: 20 }, state: since(20), expect: { verdict: "stop", minutes: 20, source: "option" } },
    { what: "an unreadable tag: the last known limit", seen: { tag_minutes: null }, state: { last_active: NOW - 20 * MINUTE, limit: 20 },
        expect: { verdict: "stop", minutes: 20, source: "fallback" } },
    { what: "an unreadable tag and no limit known: the product default", seen: { tag_minutes: null }, state: { last_active: NOW - 44 * MINUTE },
        expect: { verdict: "keep", minutes: 45, source: "fallback", minutes_left: 1 } },
    { what: "limit 0 never stops", seen: { tag_minutes: 0 }, state: since(10_000), expect: { verdict: "keep", reason: "disabled", minutes_left: null } },
    // Jupyter.
    { what: "kernel activity after the last known moves the clock", seen: { jupyter_at: NOW - 5 * MINUTE }, state: since(70),
        expect: { verdict: "keep", reason: "active:jupyter", idle: 5 * MINUTE, active: ["jupyter"] } },
    { what: "kernel activity before the last known does not", seen: { jupyter_at: NOW - 80 * MINUTE }, state: since(70),
        expect: { verdict: "stop", active: [] } },
    { what: "Jupyter unreachable counts as idle", seen: { jupyter_at: null }, state: since(60), expect: { verdict: "stop" } },
    // Jobs.
    { what: "a running job keeps it up whatever else", seen: { jobs: [{ name: "train", state: "running" }] }, state: since(1000),
        expect: { verdict: "keep", reason: "active:jobs", idle: 0, running: ["train"] } },
    { what: "a running job on the first check of a boot counts", seen: { jobs: [{ name: "train", state: "running" }] }, state: {},
        expect: { verdict: "keep", active: ["jobs"] } },
    { what: "a job that ended this boot restarts the clock from its end", seen: { jobs: [ended("train", 59)] }, state: since(120),
        expect: { verdict: "keep", reason: "active:jobs", idle: 59 * MINUTE } },
    { what: "the limit after a job's end", seen: { jobs: [ended("train", 60)] }, state: since(120), expect: { verdict: "stop", reason: "idle_for_the_limit" } },
    { what: "a job that ended before this boot does not count", seen: { boot_time: NOW - 30 * MINUTE, jobs: [ended("old", 31)] }, state: since(60),
        expect: { verdict: "stop", done: [] } },
    { what: "a job that ended at boot counts", seen: { boot_time: NOW - 30 * MINUTE, jobs: [ended("old", 30)] }, state: since(60),
        expect: { verdict: "keep", reason: "active:jobs" } },
    { what: "an interrupted job does not keep it up", seen: { jobs: [{ name: "lost", state: "interrupted" }] }, state: since(60),
        expect: { verdict: "stop", interrupted: ["lost"] } },
    { what: "jobs unknown (the runner failed) count as none", seen: { jobs: null }, state: since(60), expect: { verdict: "stop", running: [] } },
    // --stop-when-done: a minute after its end, unless something else is active.
    { what: "a --stop-when-done job ended 59 s ago", seen: { jobs: [{ ...ended("run", 0, true), ended_at: NOW - 59 }] }, state: since(120),
        expect: { verdict: "keep", done: ["run"], minutes_left: 1 } },
    { what: "a --stop-when-done job ended 60 s ago", seen: { jobs: [{ ...ended("run", 0, true), ended_at: NOW - 60 }] }, state: since(120),
        expect: { verdict: "stop", reason: "job_done:run" } },
    { what: "a --stop-when-done job with the limit off still stops", seen: { tag_minutes: 0, jobs: [ended("run", 2, true)] }, state: since(120),
        expect: { verdict: "stop", reason: "job_done:run" } },
    { what: "a --stop-when-done job waits for a command over SSH", seen: { jobs: [ended("run", 2, true)], ssh: [{ peer: "198.51.100.7:50000", command: "rsync" }] },
        state: since(120), expect: { verdict: "keep", reason: "active:jobs,ssh", ssh: [[true, "198.51.100.7:50000", "command_rsync"]] } },
    // SSH: a terminal counts while used within the wait; a command while it runs; a bare connection never.
    { what: "a terminal used one second under the limit ago", seen: { ssh: [{ ...terminal(0), terminal_at: NOW - 60 * MINUTE + 1 }] }, state: since(120),
        expect: { verdict: "keep", reason: "active:ssh", ssh: [[true, "198.51.100.7:50000", "terminal_pts/0_idle_59m"]] } },
    { what: "a terminal idle for the limit", seen: { ssh: [terminal(60)] }, state: since(120),
        expect: { verdict: "stop", ssh: [[false, "198.51.100.7:50000", "terminal_pts/0_idle_60m"]] } },
    { what: "a connection with no session (a tunnel)", seen: { ssh: [{ peer: "198.51.100.7:50000" }] }, state: since(60),
        expect: { verdict: "stop", ssh: [[false, "198.51.100.7:50000", "no_session"]] } },
    { what: "SSH unknown counts as idle", seen: { ssh: null }, state: since(60), expect: { verdict: "stop", ssh: [] } },
    // GPU and CPU: busy only above their thresholds.
    { what: "a GPU above the threshold", seen: { gpu_loads: [0, 5.1] }, state: since(120), expect: { verdict: "keep", reason: "active:gpu", idle: 0 } },
    { what: "a GPU at the threshold", seen: { gpu_loads: [5] }, state: since(60), expect: { verdict: "stop" } },
    { what: "no GPU information", seen: { gpu_loads: null }, state: since(60), expect: { verdict: "stop" } },
    { what: "the user's CPU above the threshold", seen: { cpu_percent: 10.1 }, state: since(120), expect: { verdict: "keep", reason: "active:cpu" } },
    { what: "the user's CPU at the threshold", seen: { cpu_percent: 10 }, state: since(60), expect: { verdict: "stop" } },
    { what: "the first CPU sample of a boot", seen: { cpu_percent: null }, state: since(60), expect: { verdict: "stop" } },
    // Stalled jobs (limit 30 min here): quiet means its log did not grow, its CPU stayed at or under
    // the threshold and no GPU was busy, all three, for the whole limit.
    { what: "a job quiet one second under the stall limit still keeps the machine up", seen: { jobs: [train()] }, limits: STALL,
        state: quietFor(30 * MINUTE - 1), expect: { verdict: "keep", reason: "active:jobs", stalled: [], events: [], quiet_since: NOW - 30 * MINUTE + 1 } },
    { what: "a job quiet for exactly the stall limit is stalled, notified, and no longer keeps the machine up", seen: { jobs: [train()] },
        limits: STALL, state: quietFor(30 * MINUTE), expect: { verdict: "stop", reason: "idle_for_the_limit", running: ["train"], stalled: ["train"],
            events: [{ event: "job-stalled", job: "train", since: NOW, quiet_since: NOW - 30 * MINUTE }] } },
    { what: "a job stalled at an earlier check is not notified again", seen: { jobs: [train()] }, limits: STALL,
        state: quietFor(45 * MINUTE, NOW - 15 * MINUTE), expect: { stalled: ["train"], events: [] } },
    { what: "a stalled job leaves the idle clock where it last counted: the usual limit from there", seen: { jobs: [train()] }, limits: STALL,
        state: { ...quietFor(40 * MINUTE, NOW - 10 * MINUTE), last_active: NOW - 10 * MINUTE }, expect: { verdict: "keep", reason: "idle_under_the_limit", idle: 10 * MINUTE, minutes_left: 50 } },
    { what: "a log that grew ends the quiet", seen: { jobs: [train({ log_size: 1001 })] }, limits: STALL, state: quietFor(60 * MINUTE, NOW - 30 * MINUTE),
        expect: { verdict: "keep", reason: "active:jobs", stalled: [], quiet_since: NOW } },
    { what: "CPU above the threshold ends the quiet", seen: { jobs: [train({ cpu_percent: 10.1 })] }, limits: STALL, state: quietFor(60 * MINUTE),
        expect: { verdict: "keep", stalled: [], quiet_since: NOW } },
    { what: "CPU at the threshold is quiet", seen: { jobs: [train({ cpu_percent: 10 })] }, limits: STALL, state: quietFor(60 * MINUTE),
        expect: { stalled: ["train"] } },
    { what: "a busy GPU ends the quiet", seen: { jobs: [train()], gpu_loads: [0, 5.1] }, limits: STALL, state: quietFor(60 * MINUTE),
        expect: { verdict: "keep", stalled: [], quiet_since: NOW } },
    { what: "a GPU at the threshold is quiet", seen: { jobs: [train()], gpu_loads: [5] }, limits: STALL, state: quietFor(60 * MINUTE),
        expect: { stalled: ["train"] } },
    { what: "a job first seen starts quiet now (no earlier log size to compare)", seen: { jobs: [train()] }, limits: STALL, state: since(10),
        expect: { verdict: "keep", stalled: [], quiet_since: NOW } },
    { what: "jobStallMinutes 0: a job quiet for days keeps the machine up", seen: { jobs: [train()] }, limits: { stall_minutes: 0 },
        state: quietFor(5000 * MINUTE), expect: { verdict: "keep", reason: "active:jobs", stalled: [], events: [] } },
    { what: "one stalled job and one working: the working one keeps it up", seen: { jobs: [train(), train({ name: "eval", log_size: 5 })] }, limits: STALL,
        state: { ...quietFor(60 * MINUTE), jobs: { train: { quiet_since: NOW - 60 * MINUTE, log_size: 1000 }, eval: { quiet_since: NOW - 60 * MINUTE, log_size: 4 } } },
        expect: { verdict: "keep", reason: "active:jobs", stalled: ["train"] } },
    { what: "a job that stops running leaves the stall record", seen: { jobs: [ended("train", 1)] }, limits: STALL, state: quietFor(60 * MINUTE),
        expect: { stalled: [] } },
    // Several at once: every active source is named, in the order checked.
    { what: "everything active", seen: { jupyter_at: NOW, jobs: [{ name: "train", state: "running" }], ssh: [{ peer: "198.51.100.7:50000", command: "bash" }], gpu_loads: [90], cpu_percent: 50 },
        state: since(10), expect: { verdict: "keep", reason: "active:jupyter,jobs,gpu,cpu", active: ["jupyter", "jobs", "gpu", "cpu"] } },
];

/** Runs decide on every row in one Debian Python process: JSON in, the verdicts as JSON out. */
function decideAll(rows: Row[]): Verdict[] {
    const cases = rows.map((row) => ({ observations: { ...IDLE, ...row.seen }, state: row.state ?? {}, limits: { ...LIMITS, ...row.limits } }));
    const program = [
        "import dataclasses, importlib.util, json, sys",
        "spec = importlib.util.spec_from_file_location('idle_watcher', sys.argv[1])",
        "watcher = importlib.util.module_from_spec(spec)",
        "spec.loader.exec_module(watcher)",
        "def seen(o):",
        "    o = dict(o)",
        "    o['jobs'] = None if o.get('jobs') is None else [watcher.JobSeen(**job) for job in o['jobs']]",
        "    o['ssh'] = None if o.get('ssh') is None else [watcher.SshSeen(**each) for each in o['ssh']]",
        "    return watcher.Observations(**o)",
        "print(json.dumps([dataclasses.asdict(watcher.decide(seen(c['observations']), c['state'], watcher.Limits(**c['limits'])))",
        "                  for c in json.load(sys.stdin)]))",
    ].join("\n");
    return JSON.parse(execFileSync(DEBIAN_PYTHON, ["-c", program, IDLE_WATCHER], { input: JSON.stringify(cases), encoding: "utf8", timeout: 30_000 }));
}

describe("the idle watcher's decision, in a table", () => {
    let verdicts: Verdict[] = [];

    before(function () {
        requireCommands(this, DEBIAN_PYTHON);
        verdicts = decideAll(ROWS);
    });

    ROWS.forEach((row, index) => {
        it(row.what, () => {
            const { minutes_left: minutesLeft, quiet_since: quietSince, ...expected } = row.expect;
            const verdict = verdicts[index];
            for (const [key, value] of Object.entries(expected)) {
                assert.deepEqual(verdict[key as keyof Verdict], value, `${key} of: ${JSON.stringify(verdict)}`);
            }
            if (quietSince !== undefined) {
                assert.equal((verdict.state.jobs as Record<string, { quiet_since: number }>).train.quiet_since, quietSince, JSON.stringify(verdict.state.jobs));
            }
            if (minutesLeft !== undefined) {
                assert.equal(verdict.state.minutes_left, minutesLeft, JSON.stringify(verdict.state));
            }
            // The state npm run status reads says what the verdict says.
            assert.equal(verdict.state.verdict, verdict.verdict);
            assert.equal(verdict.state.reason, verdict.reason);
            assert.equal(verdict.state.limit, verdict.minutes);
            assert.equal(verdict.state.last_active, verdict.last_active);
            assert.deepEqual(verdict.state.running_jobs, verdict.running);
            assert.deepEqual(verdict.state.stalled_jobs, verdict.stalled);
        });
    });

    it("is a function of its inputs: the same row twice gives the same verdict", () => {
        assert.deepEqual(decideAll([ROWS[0], ROWS[0]]), [verdicts[0], verdicts[0]]);
    });
});
