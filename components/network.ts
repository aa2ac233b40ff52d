// Network access for a notebook: a security group that admits only the configured CIDRs, only on
// the ports the notebook needs, one rule per CIDR per port so each is visible and auditable.
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as vpc from "@pulumi/aws/vpc";

export const SSH_PORT = 22;

export interface AccessArgs {
    allowedCidrs: string[];
    ports: number[];
    vpcId?: pulumi.Input<string>;
    tags: Record<string, string>;
}

function isIpv6(cidr: string): boolean {
    return cidr.includes(":");
}

export function createSecurityGroup(name: string, args: AccessArgs, parent: pulumi.Resource): ec2.SecurityGroup {
    const group = new ec2.SecurityGroup(`${name}-sg`, {
        // AWS cannot change a group's description in place: keep it free of settings.
        description: `gpu-notebook ${name}: the notebook's ports, from the allowed networks only`,
        vpcId: args.vpcId,
        tags: args.tags,
    }, { parent });
    for (const port of args.ports) {
        for (const cidr of args.allowedCidrs) {
            // The CIDR is part of the name so adding or removing one network leaves the other rules be.
            new vpc.SecurityGroupIngressRule(`${name}-in-${port}-${cidr.replace(/[/:.]/g, "-")}`, {
                securityGroupId: group.id,
                ipProtocol: "tcp",
                fromPort: port,
                toPort: port,
                ...(isIpv6(cidr) ? { cidrIpv6: cidr } : { cidrIpv4: cidr }),
                description: port === SSH_PORT ? "SSH" : "Jupyter over HTTPS",
                tags: args.tags,
            }, { parent });
        }
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
