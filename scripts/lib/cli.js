// What the scripts' node helpers share: JSON read from stdin (where secrets travel, never on a
// command line), failures reported as one "gpu-notebook: ..." line with exit status 1, and times
// in this computer's words.
// @ts-check
"use strict";

const fs = require("fs");

/**
 * Parses `text` (default: stdin) as JSON; `what` names it in the error.
 * @param {string} what
 * @param {string} [text]
 * @returns {unknown}
 */
function readJson(what, text = fs.readFileSync(0, "utf8")) {
    try {
        return JSON.parse(text);
    } catch (error) {
        throw new Error(`${what} is not JSON (${error instanceof Error ? error.message : error})`);
    }
}

/**
 * Runs `main` with the command's arguments, turning what it throws (or the promise it returns
 * rejects with) into the one-line message.
 * @param {(args: string[]) => void | Promise<void>} main
 */
function runCommand(main) {
    /** @param {unknown} error */
    const fail = (error) => {
        console.error(`gpu-notebook: ${error instanceof Error ? error.message : error}`);
        process.exit(1);
    };
    try {
        const done = main(process.argv.slice(2));
        if (done instanceof Promise) {
            done.catch(fail);
        }
    } catch (error) {
        fail(error);
    }
}

/**
 * A moment as YYYY-MM-DD HH:MM on this computer's clock.
 * @param {Date} date
 */
function localTime(date) {
    const two = (/** @type {number} */ value) => String(value).padStart(2, "0");
    return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}`;
}

module.exports = { localTime, readJson, runCommand };
