// Prints a list-valued config setting (allowedCidrs), one entry a line, from what `pulumi config
// get` printed, read on stdin: a JSON list, or a plain string, which the program splits on commas
// and white space (components/config.ts; a test keeps the two readings equal). Prints nothing for
// an unset or empty setting.
"use strict";

const text = require("fs").readFileSync(0, "utf8").trim();
let entries;
if (text.startsWith("[")) {
    try {
        entries = JSON.parse(text);
    } catch (error) {
        console.error(`gpu-notebook: the setting is neither a list nor plain text (${error.message}): ${text}`);
        process.exit(1);
    }
} else {
    entries = text.split(/[\s,]+/);
}
for (const entry of entries) {
    const value = String(entry).trim();
    if (value !== "") {
        console.log(value);
    }
}
