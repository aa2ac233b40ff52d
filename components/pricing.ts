// What the instance costs per hour, looked up at deploy for the estimatedHourlyCostUsd output: the
// AWS Price List for on-demand, the spot price history for spot. A failed lookup is a warning,
// never a failed deploy.
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as pricing from "@pulumi/aws/pricing";
import { Provider } from "@pulumi/aws/provider";

import { failureText } from "./aws-data";
import { Market } from "./config";

/** The Price List API answers only in us-east-1 and ap-south-1, whatever region the stack uses. Exported for tests. */
export const PRICE_LIST_REGION = "us-east-1";

/** An instance's hourly price, or why it is not known; a missing price never stops a deploy. */
export interface HourlyPrice {
    market: Market;
    /** USD per hour for the instance alone (disk and address are extra). */
    usd?: number;
    /** Where the number came from, for the plan and the logs. */
    source: string;
    /** Set when the lookup failed; the deploy goes on without a price. */
    warning?: string;
}

/** Price List filters that single out Linux, shared-tenancy, on-demand use of one instance type. */
function onDemandPriceFilters(instanceType: string, region: string): pricing.GetProductArgs["filters"] {
    return Object.entries({
        instanceType,
        regionCode: region,
        operatingSystem: "Linux",
        tenancy: "Shared",
        preInstalledSw: "NA",
        licenseModel: "No License required",
        capacitystatus: "Used",
        marketoption: "OnDemand",
    }).map(([field, value]) => ({ field, value }));
}

/** The USD hourly rate in a Price List product document (terms.OnDemand.*.priceDimensions.*). */
function onDemandUsdPerHour(productJson: string): number {
    const product = JSON.parse(productJson) as {
        terms?: { OnDemand?: Record<string, { priceDimensions?: Record<string, { unit?: string; pricePerUnit?: { USD?: string } }> }> };
    };
    for (const offer of Object.values(product.terms?.OnDemand ?? {})) {
        for (const dimension of Object.values(offer.priceDimensions ?? {})) {
            const usd = Number(dimension.pricePerUnit?.USD);
            if (dimension.unit === "Hrs" && Number.isFinite(usd) && usd > 0) {
                return usd;
            }
        }
    }
    throw new Error("the Price List product has no hourly on-demand USD price");
}

/**
 * An AWS provider for the Price List API's region, with the stack's profile if one is set. A
 * stack needs one however many notebooks it prices.
 */
export function createPriceListProvider(name: string): Provider {
    // An explicit provider does not inherit the stack's aws:* settings; carry over the profile so the
    // lookup uses the same credentials as everything else.
    const profile = new pulumi.Config("aws").get("profile");
    return new Provider(name, { region: PRICE_LIST_REGION, ...(profile ? { profile } : {}) });
}

/**
 * Looks up what the instance costs per hour: the Price List API for on-demand, the latest spot
 * price history entry for spot. A failed lookup (a missing pricing:GetProducts or
 * ec2:DescribeSpotPriceHistory permission, which it names, or no price) becomes a warning, never a failed deploy.
 * `priceList` gives the Price List provider; it is called for on-demand only, so a spot notebook
 * makes none.
 */
export async function lookupHourlyPrice(
    instanceType: string, region: string, market: Market, priceList: () => Provider,
): Promise<HourlyPrice> {
    try {
        if (market === "spot") {
            const result = await ec2.getSpotPrice({
                instanceType,
                filters: [{ name: "product-description", values: ["Linux/UNIX"] }],
            });
            const usd = Number(result.spotPrice);
            if (!Number.isFinite(usd) || usd <= 0) {
                throw new Error(`spot price history returned ${JSON.stringify(result.spotPrice)}`);
            }
            return { market, usd, source: `spot price history, ${result.availabilityZone ?? region} at ${result.spotPriceTimestamp}` };
        }
        const product = await pricing.getProduct({
            serviceCode: "AmazonEC2",
            filters: onDemandPriceFilters(instanceType, region),
        }, { provider: priceList() });
        return { market, usd: onDemandUsdPerHour(product.result), source: `AWS Price List, ${region} on-demand Linux` };
    } catch (error) {
        const permission = market === "spot" ? "ec2:DescribeSpotPriceHistory" : "pricing:GetProducts";
        // The permission is named only when AWS said no: a price that is not there is no IAM problem.
        const denied = /AccessDenied|not authorized|Unauthorized/i.test(failureText(error));
        return {
            market,
            source: "unknown",
            warning: `could not look up the ${market} price of ${instanceType} in ${region}, so ` +
                `estimatedHourlyCostUsd is not set (the deploy goes on${denied ? `; the lookup needs ${permission}` : ""}): ${failureText(error)}`,
        };
    }
}

/** AWS bills a month as 730 hours (365 days × 24 hours / 12). */
export const HOURS_PER_MONTH = 730;
/** The usage a month's cost is shown at unless the user picks another: 4 hours a day on weekdays. */
export const DEFAULT_HOURS_PER_WEEK = 20;
/** Hours in a week: the most a machine can run. */
export const HOURS_PER_WEEK = 168;

/** What a notebook keeps whether it runs or not, and what each costs. */
export interface StandingCharges {
    /** Every disk (root and data), GiB of gp3. */
    diskGib: number;
    /** USD per GiB-month of gp3. */
    gp3GibMonth: number;
    /** Public IPv4 addresses (the Elastic IP), each billed by the hour whether used or not. */
    addresses: number;
    /** USD per address-hour. */
    ipv4Hour: number;
}

/** What a notebook costs in the three ways a user thinks about it, unrounded (USD). */
export interface NotebookCosts {
    /** While it runs: the instance, and the disks and address. */
    runningPerHour: number;
    /** The disks and address alone, a month: what a stopped notebook costs. */
    stoppedPerMonth: number;
    /** A month of running `hoursPerWeek` hours a week, stopped otherwise. */
    perMonth: number;
    /** The hours of running that month counts. */
    hoursPerMonth: number;
}

/** The costs of a notebook from its instance's hourly price and what it keeps; unrounded, so sums stay exact. */
export function notebookCosts(instancePerHour: number, standing: StandingCharges, hoursPerWeek: number): NotebookCosts {
    const stoppedPerMonth = standing.diskGib * standing.gp3GibMonth + standing.addresses * standing.ipv4Hour * HOURS_PER_MONTH;
    const hoursPerMonth = (hoursPerWeek * HOURS_PER_MONTH) / HOURS_PER_WEEK;
    return {
        runningPerHour: instancePerHour + stoppedPerMonth / HOURS_PER_MONTH,
        stoppedPerMonth,
        perMonth: instancePerHour * hoursPerMonth + stoppedPerMonth,
        hoursPerMonth,
    };
}

/** Every amount of money the plan shows, rounded one way: to the cent ("$0.53", "$1,234.50"). */
export function usd(amount: number): string {
    // To 12 significant digits first, so a price such as 1.005 (100.49999… cents in binary) rounds up as written.
    const cents = Math.round(Number((amount * 100).toPrecision(12)));
    return `$${(cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
