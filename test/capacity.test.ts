// The candidate order (a pure function, in tables), what the driver tells the program through the
// environment, the record the program tells the driver, and how the driver finds EC2's capacity
// refusals in an event log with it.
import * as assert from "assert";

import {
    Candidate, candidateKey, candidateOrder, CapacityRecord, capacityRecordLine, capacityRecords, ec2CapacityError, fallbackPrice,
    hintsFromEnvironment, machineResources, OrderFacts,
} from "../components/capacity";
import { CAPACITY_ENV } from "../components/contract";
import { programSays, refusedRun, StandInDiagnostic } from "./support/capacity";

// Plain JavaScript the scripts run; its shapes are checked here by what it returns.
const { capacityFailures, diagnostics, errorLines, sentence, startedReport } = require("../scripts/lib/capacity.js") as {
    capacityFailures(found: { name: string; severity: string; message: string }[]): { action: string; notebook: string; candidate: Candidate }[];
    diagnostics(text: string): { name: string; severity: string; message: string }[];
    errorLines(found: { name: string; severity: string; message: string }[]): string[];
    sentence(failure: { candidate: Candidate }): string;
    startedReport(notebooks: Record<string, { instanceType: string; availabilityZone: string }>, unstarted: string[]): string[];
};

const ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"];
const BASE: OrderFacts = {
    types: ["g5.xlarge", "g6.xlarge"],
    offeringZones: { "g5.xlarge": ZONES, "g6.xlarge": ["us-east-1b", "us-east-1c"] },
    markets: ["on-demand"],
    full: new Set(),
};
const keys = (facts: Partial<OrderFacts>) => candidateOrder({ ...BASE, ...facts }).map(candidateKey);

describe("capacity", () => {
    describe("the candidate order", () => {
        const table: [string, Partial<OrderFacts>, string[]][] = [
            ["zone by zone (by name) for the first type, then the next type", {}, [
                "us-east-1a/g5.xlarge/on-demand", "us-east-1b/g5.xlarge/on-demand", "us-east-1c/g5.xlarge/on-demand",
                "us-east-1b/g6.xlarge/on-demand", "us-east-1c/g6.xlarge/on-demand"]],
            ["without the candidates EC2 said are full", { full: new Set(["us-east-1a/g5.xlarge/on-demand", "us-east-1b/g6.xlarge/on-demand"]) }, [
                "us-east-1b/g5.xlarge/on-demand", "us-east-1c/g5.xlarge/on-demand", "us-east-1c/g6.xlarge/on-demand"]],
            ["only the bound zone (the data volume's), every type offered there", { boundZone: "us-east-1b" }, [
                "us-east-1b/g5.xlarge/on-demand", "us-east-1b/g6.xlarge/on-demand"]],
            ["a bound zone no type is offered in leaves nothing", { boundZone: "us-east-1d" }, []],
            ["only zones that can hold the machine (a subnet there)", { usableZones: ["us-east-1c"] }, [
                "us-east-1c/g5.xlarge/on-demand", "us-east-1c/g6.xlarge/on-demand"]],
            ["an existing machine keeps its type", { boundZone: "us-east-1b", currentType: "g6.xlarge" }, ["us-east-1b/g6.xlarge/on-demand"]],
            ["an existing machine of a type no longer listed takes the list", { boundZone: "us-east-1c", currentType: "g4dn.xlarge" }, [
                "us-east-1c/g5.xlarge/on-demand", "us-east-1c/g6.xlarge/on-demand"]],
            ["--type is the only type", { boundZone: "us-east-1b", currentType: "g5.xlarge", requestedType: "g6.xlarge" }, ["us-east-1b/g6.xlarge/on-demand"]],
            ["spot everywhere before its on-demand fallback", { types: ["g6.xlarge"], markets: ["spot", "on-demand"] }, [
                "us-east-1b/g6.xlarge/spot", "us-east-1c/g6.xlarge/spot", "us-east-1b/g6.xlarge/on-demand", "us-east-1c/g6.xlarge/on-demand"]],
            ["every candidate full leaves nothing", { types: ["g6.xlarge"], full: new Set(["us-east-1b/g6.xlarge/on-demand", "us-east-1c/g6.xlarge/on-demand"]) }, []],
            ["an existing machine keeps its market: an on-demand fallback is not swapped back to spot",
                { types: ["g6.xlarge"], boundZone: "us-east-1b", markets: ["spot", "on-demand"], currentMarket: "on-demand" }, ["us-east-1b/g6.xlarge/on-demand"]],
            ["a market the settings no longer allow is not kept (spot switched on)",
                { types: ["g6.xlarge"], boundZone: "us-east-1b", markets: ["spot"], currentMarket: "on-demand" }, ["us-east-1b/g6.xlarge/spot"]],
            ["--on-demand is the only market", { types: ["g6.xlarge"], boundZone: "us-east-1b", markets: ["spot", "on-demand"], currentMarket: "spot",
                requestedMarket: "on-demand" }, ["us-east-1b/g6.xlarge/on-demand"]],
            ["a type offered nowhere adds nothing", { types: ["g6e.xlarge", "g5.xlarge"], boundZone: "us-east-1a" }, ["us-east-1a/g5.xlarge/on-demand"]],
        ];
        for (const [what, facts, expected] of table) {
            it(what, () => assert.deepStrictEqual(keys(facts), expected));
        }
    });

    describe("what the driver tells the program", () => {
        it("reads one notebook's full candidates, asked type and start time, and ignores the others' and junk", () => {
            const hints = hintsFromEnvironment("alice", {
                [CAPACITY_ENV.full]: "alice=us-east-1a/g5.xlarge/on-demand bob=us-east-1b/g5.xlarge/on-demand alice=junk alice=us-east-1b/g5.xlarge/spot",
                [CAPACITY_ENV.type]: "bob=g4dn.xlarge alice=g6.xlarge",
                [CAPACITY_ENV.market]: "alice=on-demand bob=junk",
                [CAPACITY_ENV.started]: "1764700000000",
            });
            assert.deepStrictEqual([...hints.full], ["us-east-1a/g5.xlarge/on-demand", "us-east-1b/g5.xlarge/spot"]);
            assert.strictEqual(hints.requestedType, "g6.xlarge");
            assert.strictEqual(hints.requestedMarket, "on-demand");
            assert.strictEqual(hintsFromEnvironment("bob", { [CAPACITY_ENV.market]: "bob=junk" }).requestedMarket, undefined);
            assert.strictEqual(hints.runStarted, 1764700000000);
        });

        it("a plain pulumi up has no hints", () => {
            assert.deepStrictEqual(hintsFromEnvironment("notebook", {}), { full: new Set(), requestedType: undefined, runStarted: undefined });
        });
    });

    describe("the record the program tells the driver", () => {
        const record: CapacityRecord = {
            notebook: "alice", candidate: { zone: "us-east-1c", instanceType: "g6.xlarge", market: "spot" }, resources: machineResources("alice"),
            onDemandFallback: { usdPerHour: 0.805 },
        };

        it("is one line, read back as it was written, from among other lines of a message", () => {
            const line = capacityRecordLine(record);
            assert.doesNotMatch(line, /\n/);
            assert.deepStrictEqual(capacityRecords([`capacity: alice tries ...\n${line}\n`, "something else"]), [record]);
        });

        it("a line that is not a record, or a record out of shape, is no record", () => {
            const broken = (changes: object) => capacityRecordLine({ ...record, ...changes } as CapacityRecord);
            assert.deepStrictEqual(capacityRecords([
                `${capacityRecordLine(record).slice(0, -1)}`,
                broken({ candidate: { zone: "us-east-1c", instanceType: "g6", market: "spot" } }),
                broken({ resources: { launch: "alice-instance" } }),
                broken({ notebook: "" }),
                broken({ onDemandFallback: { usdPerHour: "0.805" } }),
                `say ${capacityRecordLine(record)}`,
            ]), []);
        });

        it("says the fallback's price as the program's line does", () => {
            assert.strictEqual(fallbackPrice({ usdPerHour: 1.006, spotUsdPerHour: 0.426 }), "$1.006 an hour (+$0.580)");
            assert.strictEqual(fallbackPrice({ usdPerHour: 1.006 }), "$1.006 an hour");
            assert.strictEqual(fallbackPrice({ spotUsdPerHour: 0.426 }), "price unknown");
        });
    });

    describe("recognising EC2's refusals (scripts/lib/capacity.js)", () => {
        const g5 = { instanceType: "g5.xlarge", zone: "us-east-1a", market: "on-demand" } as const;
        /** One diagnostic as the engine writes it to --event-log by default (`--color` raw: directives kept, a newline after). */
        const event = ({ resource, severity, message }: StandInDiagnostic) => JSON.stringify({
            sequence: 1, timestamp: 0,
            diagnosticEvent: {
                urn: `urn:pulumi:dev::gpu-notebook::gpu-notebook:index:GpuNotebook$t::${resource}`, prefix: severity === "info" ? "" : `<{%fg 8%}>${severity}: <{%reset%}>`,
                message: `<{%reset%}>${message}<{%reset%}>\n`, color: "raw", severity,
            },
        });
        const found = (...diagnosticsOfRun: StandInDiagnostic[][]) => capacityFailures(diagnostics(diagnosticsOfRun.flat().map(event).join("\n")));

        it("finds a launch refused with InsufficientInstanceCapacity, for the candidate the notebook's record names", () => {
            const [failure, ...more] = found(refusedRun("notebook", g5, "launch").diagnostics);
            assert.deepStrictEqual(more, []);
            assert.deepStrictEqual(failure, { action: "launch", notebook: "notebook", candidate: g5 });
            assert.strictEqual(sentence(failure), "no g5.xlarge free in us-east-1a right now");
        });

        it("finds a start refused (the machine's state) and a spot refusal, and the fallback's price; other errors are no refusal", () => {
            const spot = { instanceType: "g6.xlarge", zone: "us-east-1c", market: "spot" } as const;
            const other = { resource: "bob-instance", severity: "error", message: "creating EC2 Instance: VcpuLimitExceeded: You have requested more vCPU capacity" };
            assert.deepStrictEqual(found(refusedRun("alice", spot, "start", { onDemandFallback: { usdPerHour: 0.805 } }).diagnostics, programSays("bob", g5), [other]),
                [{ action: "start", notebook: "alice", candidate: spot, onDemandFallback: { usdPerHour: 0.805 } }]);
            assert.strictEqual(sentence({ candidate: spot }), "no spot g6.xlarge free in us-east-1c right now");
            assert.match(ec2CapacityError(spot, "launch"), /capacity-not-available/);
        });

        it("tells apart the notebooks of a class by the resource EC2's error is about", () => {
            const g6 = { ...g5, instanceType: "g6.xlarge" };
            const refused = refusedRun("bob", g6, "launch").diagnostics;
            assert.deepStrictEqual(found(programSays("alice", g5), programSays("al", g5), refused), [{ action: "launch", notebook: "bob", candidate: g6 }]);
        });

        it("reads no sentence: without the record, EC2's refusal is nobody's, whatever the words say", () => {
            const [line, , refusal] = refusedRun("notebook", g5, "launch").diagnostics;
            assert.deepStrictEqual(found([line, refusal]), []);
            const reworded = refusedRun("notebook", g5, "launch", { userLine: "Kapazität: notebook versucht g5.xlarge" }).diagnostics;
            assert.deepStrictEqual(found(reworded), [{ action: "launch", notebook: "notebook", candidate: g5 }]);
        });

        it("gives the run's errors as plain lines, without the event log's color directives", () => {
            assert.deepStrictEqual(errorLines(diagnostics(refusedRun("notebook", g5, "start").diagnostics.map(event).join("\n"))), [ec2CapacityError(g5, "start")]);
        });

        it("reports a class after start --all: who runs on what, who found no GPU", () => {
            assert.deepStrictEqual(startedReport({
                bob: { instanceType: "g6.xlarge", availabilityZone: "us-east-1b" }, alice: { instanceType: "g5.xlarge", availabilityZone: "us-east-1a" },
            }, ["alice"]), [
                "gpu-notebook: alice: not started, no GPU free (see above)",
                "gpu-notebook: bob: running on g6.xlarge in us-east-1b",
            ]);
        });
    });
});
