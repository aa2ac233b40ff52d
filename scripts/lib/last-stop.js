// Renders the last stop's record (the SSM parameter the machine's stop sequence and the backstop
// write; components/notify.ts) for npm run status and npm run notify-test when the machine does
// not answer: when it stopped, on the user's clock and how long ago, why, and whether that was
// notified. The record is the parameter's JSON, read by last-stop-record.ts; "{}" (never stopped
// since the deploy) says so.
// @ts-check
"use strict";

const { localTime } = require("./cli");

/** Why, in words, by the contract's stop reasons (components/contract.ts STOP_REASONS). */
const REASONS = {
    idle: "idle stop",
    backstop: "the idle backstop (the watcher reported no activity, or nothing at all)",
    spot: "a spot interruption: EC2 took the capacity back",
    user: "npm run stop (running set to false)",
    elsewhere: "a stop from outside the machine (the EC2 console, the API) or for an unknown reason",
};

/** "5 min", "3 h 10 min", "2 days 4 h". @param {number} ms */
function age(ms) {
    const minutes = Math.max(0, Math.floor(ms / 60000));
    if (minutes < 60) {
        return `${minutes} min`;
    }
    const hours = Math.floor(minutes / 60);
    if (hours < 48) {
        return `${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
    }
    return `${Math.floor(hours / 24)} days ${hours % 24} h`;
}

/**
 * @param {any} record the last-stop record (any: JSON the machine wrote)
 * @param {number} now
 * @returns {string[]}
 */
function lastStopLines(record, now) {
    if (!record || typeof record !== "object" || record.time === undefined) {
        return ["Last stop:   none recorded since the notebook was deployed"];
    }
    const when = new Date(record.time);
    const reason = REASONS[/** @type {keyof typeof REASONS} */ (record.reason)] ?? String(record.reason);
    const lines = [
        `Last stop:   ${Number.isNaN(when.getTime()) ? String(record.time) : `${localTime(when)} (${age(now - when.getTime())} ago)`}: ${reason}` +
            (record.detail ? `; ${record.detail}` : ""),
    ];
    const sent = record.notification;
    lines.push(`Notified:    ${sent === null || sent === undefined
        ? "no notification was due (none configured for stopping)"
        : sent.delivered ? `yes${sent.detail ? ` (${sent.detail})` : ""}` : `NOT delivered${sent.detail ? `: ${sent.detail}` : ""}`}`);
    return lines;
}

module.exports = { lastStopLines };
