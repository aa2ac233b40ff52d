// Loaded after ts-node by mocha (.mocharc.json "require"). The Pulumi SDK records a stack trace
// for every resource and promise it makes, and ts-node's source-map-support maps every frame of
// each one: most of a whole-program run's CPU under the mocks, for traces nothing reads offline.
// Traces captured inside the SDK are formatted by V8's plain rules; every other trace (a failing
// test's, the program's own errors) is still mapped to the TypeScript source.
const mapped = Error.prepareStackTrace;

if (mapped) {
    Error.prepareStackTrace = (error, callSites) => {
        const origin = callSites[0]?.getFileName() ?? "";
        if (origin.includes("/node_modules/@pulumi/pulumi/")) {
            return `${error}\n${callSites.map((site) => `    at ${site}`).join("\n")}`;
        }
        return mapped(error, callSites);
    };
}
