// The stand-in STS the scripts' test worlds share (../stand-ins.ts points AWS_ENDPOINT_URL_STS at
// it): one server a test process, knowing STS_IDENTITIES, started as its own process because the
// worlds are made synchronously. Writes its port to the file argv[2] names once it listens, and
// exits when its stdin closes (its starter ended), as ./server.js does.
import { renameSync, writeFileSync } from "fs";

import { startSts, STS_IDENTITIES } from "../aws";

void startSts(Object.values(STS_IDENTITIES)).then(({ url }) => {
    const portFile = process.argv[2];
    // Written whole, then renamed: the starter polls for the file and reads it at once.
    writeFileSync(`${portFile}.partial`, new URL(url).port);
    renameSync(`${portFile}.partial`, portFile);
    process.stdin.on("end", () => process.exit(0)).resume();
});
