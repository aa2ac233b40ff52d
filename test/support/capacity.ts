// What the engine's event log holds after a `pulumi up` EC2 refused for want of capacity, as the
// program and EC2 would write it: the program's line for the user (info), its capacity record
// (debug, as components/notebook.ts logs it) and EC2's error on the refused resource. For the
// stand-in CLI's results (STAND_IN_UP_RESULTS) and for event logs built by hand.
import {
    Candidate, candidateKey, CapacityAction, capacityRecordLine, ec2CapacityError, FallbackPrice, machineResources,
} from "../../components/capacity";

export interface StandInDiagnostic {
    /** The resource's name: the last part of its URN. */
    resource: string;
    severity: string;
    message: string;
}

export interface RefusedRun {
    /** What the user reads; undefined: the program said nothing in words. */
    userLine?: string;
    onDemandFallback?: FallbackPrice;
}

/** The user's line as the program words it today (components/notebook.ts capacityLine), shortened. */
export function userLine(notebook: string, candidate: Candidate): string {
    return `capacity: ${notebook} tries ${candidateKey(candidate)} (1 × NVIDIA A10G (24 GiB)), ...`;
}

/** The program's two diagnostics for a notebook: its line for the user and its record for the driver. */
export function programSays(notebook: string, candidate: Candidate, run: RefusedRun = {}): StandInDiagnostic[] {
    const line = "userLine" in run ? run.userLine : userLine(notebook, candidate);
    const record = capacityRecordLine({
        notebook, candidate, resources: machineResources(notebook), ...(run.onDemandFallback ? { onDemandFallback: run.onDemandFallback } : {}),
    });
    return [
        ...(line === undefined ? [] : [{ resource: notebook, severity: "info", message: line }]),
        { resource: notebook, severity: "debug", message: record },
    ];
}

/** A run whose launch or start of a notebook's machine EC2 refused: Pulumi's exit status 255 and the diagnostics. */
export function refusedRun(notebook: string, candidate: Candidate, action: CapacityAction, run: RefusedRun = {}):
    { status: number; diagnostics: StandInDiagnostic[] } {
    // The provider's error as Pulumi reports it on the resource (a launch's comes wrapped).
    const error = action === "launch" ? `1 error occurred:\n\t* ${ec2CapacityError(candidate, action)}` : ec2CapacityError(candidate, action);
    return {
        status: 255,
        diagnostics: [...programSays(notebook, candidate, run), { resource: machineResources(notebook)[action], severity: "error", message: error }],
    };
}
