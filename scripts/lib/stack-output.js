// Prints one stack output (named by the first argument) from the JSON on stdin: strings as they
// are, anything else as JSON. With --each NAME..., prints several, each ended by a NUL byte (no
// value holds one). Used by outputs.sh; the JSON comes on stdin so secrets never appear in a
// process list.
"use strict";

const each = process.argv[2] === "--each";
const names = process.argv.slice(each ? 3 : 2, each ? undefined : 3);
let outputs;
try {
    outputs = JSON.parse(require("fs").readFileSync(0, "utf8"));
} catch (error) {
    console.error(`gpu-notebook: the stack outputs are not JSON (${error.message})`);
    process.exit(1);
}
const values = names.map((name) => {
    const value = outputs !== null && typeof outputs === "object" ? outputs[name] : undefined;
    if (value === undefined || value === null || value === "") {
        console.error(`gpu-notebook: the stack has no output ${name}; run 'npm run up' to create or update it`);
        process.exit(1);
    }
    return typeof value === "string" ? value : JSON.stringify(value);
});
process.stdout.write(each ? values.map((value) => `${value}\0`).join("") : values[0]);
