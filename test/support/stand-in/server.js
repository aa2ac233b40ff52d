// The stand-in `pulumi` (./pulumi), answered by one long-lived node process instead of a new one a
// call: the scripts call it hundreds of times in a test run, and a node start costs 55 ms of CPU
// where the stand-in's own work takes a few. Test-only. The caller (../stand-ins.ts) starts it,
// reads its port from the file named by argv[2], and writes each test's `pulumi` as ./client.bash,
// which sends one call over TCP on 127.0.0.1. It exits when its stdin closes (its starter ended).
//
// A call: NUL-terminated fields: cwd, whether stdin and stdout are terminals ("10": stdin only),
// argc, the arguments, then NAME=VALUE for each exported
// variable, then an empty field. The answer: what it printed, in order, as `O <bytes>\n<text>`
// (stdout) and `E <bytes>\n<text>` (stderr) chunks, then `X <exit status>\n`. Each call runs
// ./pulumi's own code afresh, with that process's argv, env, cwd and home directory, so what it
// does is what `node ./pulumi` would do.
"use strict";
const fs = require("fs");
const net = require("net");
const os = require("os");
const path = require("path");
const { createRequire } = require("module");
const { format } = require("util");

const STAND_IN = path.join(__dirname, "pulumi");
const standInRequire = createRequire(STAND_IN);
// The shebang line is left as an empty line, so a stack trace's line numbers are the file's.
const source = fs.readFileSync(STAND_IN, "utf8").replace(/^#!.*/, "");
// eslint-disable-next-line no-new-func
const standIn = new Function("require", "process", "console", "__filename", "__dirname", source);

class Exit {
    constructor(status) {
        this.status = status;
    }
}

/** Runs the stand-in's code for one call; returns its answer (see above). */
function answer(call) {
    const chunks = [];
    // As with process.exit, the first exit ends the call: a catch in the stand-in that meets the
    // Exit thrown here prints nothing more, and its own exit does not change the status.
    let exited;
    const print = (channel, text) => {
        if (exited !== undefined) {
            return;
        }
        const bytes = Buffer.from(String(text));
        chunks.push(Buffer.from(`${channel} ${bytes.length}\n`), bytes);
    };
    const fakeOs = { ...os, homedir: () => call.env.HOME ?? os.homedir() };
    const fakeProcess = {
        argv: [process.execPath, STAND_IN, ...call.argv],
        env: call.env,
        cwd: () => call.cwd,
        exit: (status = 0) => {
            exited ??= status;
            throw new Exit(exited);
        },
        stdin: { isTTY: call.terminals[0] === "1" },
        stdout: { write: (text) => (print("O", text), true), isTTY: call.terminals[1] === "1" },
        stderr: { write: (text) => (print("E", text), true) },
        platform: process.platform,
        execPath: process.execPath,
    };
    const fakeConsole = {
        log: (...args) => print("O", `${format(...args)}\n`),
        error: (...args) => print("E", `${format(...args)}\n`),
    };
    let status = 0;
    try {
        standIn((name) => (name === "os" ? fakeOs : standInRequire(name)), fakeProcess, fakeConsole, STAND_IN, __dirname);
    } catch (error) {
        if (error instanceof Exit) {
            status = error.status;
        } else {
            print("E", `${error && error.stack ? error.stack : error}\n`);
            status = 1;
        }
    }
    return Buffer.concat([...chunks, Buffer.from(`X ${status}\n`)]);
}

/** The call in `fields`, or undefined while more is to come. */
function parse(fields) {
    if (fields.length < 3) {
        return undefined;
    }
    const [cwd, terminals, count] = fields;
    const argc = Number(count);
    const envStart = 3 + argc;
    const end = fields.indexOf("", envStart);
    if (fields.length <= envStart || end === -1) {
        return undefined;
    }
    const env = {};
    for (const entry of fields.slice(envStart, end)) {
        const equals = entry.indexOf("=");
        env[entry.slice(0, equals)] = entry.slice(equals + 1);
    }
    return { cwd, terminals, argv: fields.slice(3, envStart), env };
}

const server = net.createServer((socket) => {
    let received = Buffer.alloc(0);
    socket.on("data", (chunk) => {
        received = Buffer.concat([received, chunk]);
        // Only complete fields: everything up to the last NUL.
        const text = received.toString("utf8", 0, received.lastIndexOf(0) + 1);
        const call = parse(text.split("\0").slice(0, -1));
        if (call) {
            socket.end(answer(call));
        }
    });
    socket.on("error", () => socket.destroy());
});

server.listen(0, "127.0.0.1", () => {
    const portFile = process.argv[2];
    fs.writeFileSync(`${portFile}.partial`, String(server.address().port));
    fs.renameSync(`${portFile}.partial`, portFile);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
