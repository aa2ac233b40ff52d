// Network access for a notebook: a security group that admits only the configured CIDRs, only on
// the ports the notebook needs, one rule per CIDR per port so each is visible and auditable.
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as vpc from "@pulumi/aws/vpc";
import { SSH_PORT } from "./contract";

// The contract holds it; re-exported for the modules that already import it from here.
export { SSH_PORT };

export interface AccessArgs {
    allowedCidrs: string[];
    ports: number[];
    vpcId?: pulumi.Input<string>;
    tags: Record<string, string>;
}

/** One inbound rule: one port from one network. */
export interface IngressRule {
    /** Ends the rule's resource name: port and CIDR, so adding or removing one network leaves the other rules be. */
    id: string;
    port: number;
    /** The network, in the field its address family takes. */
    source: { cidrIpv4: string } | { cidrIpv6: string };
    description: string;
}

/** The inbound rules: every allowed network on every port, nothing else. Exported for tests. */
export function ingressRules(allowedCidrs: string[], ports: number[]): IngressRule[] {
    return ports.flatMap((port) => allowedCidrs.map((cidr) => ({
        id: `${port}-${cidr.replace(/[/:.]/g, "-")}`,
        port,
        source: cidr.includes(":") ? { cidrIpv6: cidr } : { cidrIpv4: cidr },
        description: port === SSH_PORT ? "SSH" : "Jupyter over HTTPS",
    })));
}

export function createSecurityGroup(name: string, args: AccessArgs, parent: pulumi.Resource): ec2.SecurityGroup {
    const group = new ec2.SecurityGroup(`${name}-sg`, {
        // AWS cannot change a group's description in place: keep it free of settings.
        description: `gpu-notebook ${name}: the notebook's ports, from the allowed networks only`,
        vpcId: args.vpcId,
        tags: args.tags,
    }, { parent });
    for (const rule of ingressRules(args.allowedCidrs, args.ports)) {
        new vpc.SecurityGroupIngressRule(`${name}-in-${rule.id}`, {
            securityGroupId: group.id,
            ipProtocol: "tcp",
            fromPort: rule.port,
            toPort: rule.port,
            ...rule.source,
            description: rule.description,
            tags: args.tags,
        }, { parent });
    }
    // Outbound stays open: pip, conda, datasets and the AWS APIs all live on the internet.
    for (const [family, cidr] of [["ipv4", "0.0.0.0/0"], ["ipv6", "::/0"]] as const) {
        new vpc.SecurityGroupEgressRule(`${name}-out-${family}`, {
            securityGroupId: group.id,
            ipProtocol: "-1",
            ...(family === "ipv6" ? { cidrIpv6: cidr } : { cidrIpv4: cidr }),
            description: "all outbound",
            tags: args.tags,
        }, { parent });
    }
    return group;
}

/** The subnet a notebook launches in, and what must exist before its machine can reach the internet. */
export interface NotebookNetwork {
    vpcId: pulumi.Input<string>;
    subnetId: pulumi.Input<string>;
    /** Resources the machine waits for (the route to the internet of a created VPC). */
    routing: pulumi.Resource[];
}

/** Address range of the VPC created when the region has no default VPC (one /24 is used). */
const CREATED_VPC_CIDR = "10.80.0.0/16";
const CREATED_SUBNET_CIDR = "10.80.0.0/24";

/** A VPC with a route to the internet, in which createPublicVpc and a stack's notebooks get subnets. */
export interface PublicVpc {
    vpcId: pulumi.Input<string>;
    /**
     * A public subnet in a zone, associated with the VPC's route to the internet; `suffix` ends
     * the names of both (`<name>-<suffix>`, `<name>-routes-<suffix>`).
     */
    subnet(suffix: string, zone: string, cidr: string): NotebookNetwork;
}

/**
 * A minimal public network for a region without a default VPC: the VPC, an internet gateway and a
 * default route to it; subnets come one per zone. Instances get a public address at launch (as in
 * a default VPC), so first-boot installs work before the Elastic IP is associated.
 */
export function createVpcWithRoute(name: string, tags: Record<string, string>, parent?: pulumi.Resource): PublicVpc {
    const network = new ec2.Vpc(`${name}-vpc`, {
        cidrBlock: CREATED_VPC_CIDR,
        enableDnsSupport: true,
        enableDnsHostnames: true,
        tags,
    }, { parent });
    const gateway = new ec2.InternetGateway(`${name}-igw`, { vpcId: network.id, tags }, { parent });
    const routes = new ec2.RouteTable(`${name}-routes`, { vpcId: network.id, tags }, { parent });
    const route = new ec2.Route(`${name}-route-internet`, {
        routeTableId: routes.id,
        destinationCidrBlock: "0.0.0.0/0",
        gatewayId: gateway.id,
    }, { parent });
    return {
        vpcId: network.id,
        subnet(suffix, zone, cidr) {
            const subnet = new ec2.Subnet(`${name}-${suffix}`, {
                vpcId: network.id,
                cidrBlock: cidr,
                availabilityZone: zone,
                mapPublicIpOnLaunch: true,
                tags,
            }, { parent });
            const association = new ec2.RouteTableAssociation(`${name}-routes-${suffix}`,
                { routeTableId: routes.id, subnetId: subnet.id }, { parent });
            // The machine reaches the internet on first boot only once these exist: it waits for them.
            return { vpcId: network.id, subnetId: subnet.id, routing: [route, association] };
        },
    };
}

/**
 * The /24 of CREATED_VPC_CIDR a stack's created network uses in a zone, the same on every run
 * whichever notebooks are added or removed: numbered by the zone's letter (us-east-1a: 10.80.0.0/24,
 * us-east-1b: 10.80.1.0/24), a Local Zone (us-east-1-bos-1a) above those by a sum over its name.
 */
export function zoneSubnetCidr(zone: string): string {
    const localZone = /^[a-z]{2}-[a-z]+-\d+-/.test(zone);
    const third = localZone
        ? 26 + ([...zone].reduce((sum, char) => sum + char.charCodeAt(0), 0) % 230)
        : zone.charCodeAt(zone.length - 1) - "a".charCodeAt(0);
    const [first, second] = CREATED_VPC_CIDR.split(".");
    return `${first}.${second}.${third}.0/24`;
}

/** The minimal public network of a lone notebook: the VPC with one subnet, in the notebook's zone. */
export function createPublicVpc(name: string, zone: string, tags: Record<string, string>, parent?: pulumi.Resource): NotebookNetwork {
    return createVpcWithRoute(name, tags, parent).subnet("subnet", zone, CREATED_SUBNET_CIDR);
}
