// What three representative configurations deploy, compared with the recordings committed in
// test/fixtures/: a change meant to alter nothing a user deploys (a refactor) must leave them
// byte-identical. When a change is meant to alter the deployment, re-record and review the diff:
//   GPU_NOTEBOOK_RECORD=1 npx mocha --no-config -r ts-node/register/transpile-only --extension ts test/recording.test.ts
import * as assert from "assert";
import { readFileSync, writeFileSync } from "fs";
import * as path from "path";

import { runShared, VALID_CONFIG } from "./support/program";
import { recordingText, recordRun } from "./support/recording";

const FIXTURES = path.join(__dirname, "fixtures");
const RECORD = process.env.GPU_NOTEBOOK_RECORD === "1";

/** The configurations recorded: the default, spot with a budget and notifications, and SSH only without a data volume. */
export const RECORDED_CONFIGS: Record<string, Record<string, string>> = {
    default: VALID_CONFIG,
    "spot-budget": {
        ...VALID_CONFIG, spot: "true", monthlyBudgetUsd: "40", alertEmail: "student@example.org",
        notifyEmail: "student@example.org", notifyWebhook: "https://hooks.example.org/recorded-webhook",
    },
    "ssh-only-no-data-volume": { ...VALID_CONFIG, exposeNotebook: "false", dataVolumeGb: "0" },
};

export function fixtureFile(name: string): string {
    return path.join(FIXTURES, `recording-${name}.json`);
}

describe("what the program deploys, against the recordings", () => {
    for (const [name, config] of Object.entries(RECORDED_CONFIGS)) {
        it(`deploys exactly the recorded resources, options and outputs for the ${name} configuration`, async () => {
            const text = recordingText(await recordRun(await runShared(config)));
            if (RECORD) {
                writeFileSync(fixtureFile(name), text);
                console.log(`      re-recorded ${path.relative(process.cwd(), fixtureFile(name))}`);
                return;
            }
            const recorded = readFileSync(fixtureFile(name), "utf8");
            assert.deepStrictEqual(JSON.parse(text), JSON.parse(recorded), `${name} differs from its recording`);
            assert.strictEqual(text, recorded);
        });
    }

    it("records each value generated per run under its source's name, not its bytes", async () => {
        const text = readFileSync(fixtureFile("default"), "utf8");
        assert.doesNotMatch(text, /PRIVATE KEY|BEGIN CERTIFICATE/);
        for (const placeholder of ["<notebook-host-key.privateKeyOpenssh>", "<notebook-host-key.publicKeyOpenssh>",
            "<notebook-tls-key.privateKeyPem>", "<notebook-tls-cert.certPem>", "<notebook-ssh-key.privateKeyOpenssh>",
            "<notebook-password.result>", "<notebook-password-salt.result>"]) {
            assert.ok(text.includes(placeholder), `the default recording names ${placeholder}`);
        }
    });
});
