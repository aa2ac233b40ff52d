// Test-only: the provider type tokens the tests look resources up by, written once.

export const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
export const ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment";
export const BUDGET = "aws:budgets/budget:Budget";
export const EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule";
export const FUNCTION = "aws:lambda/function:Function";
export const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
export const INSTANCE = "aws:ec2/instance:Instance";
export const INSTANCE_STATE = "aws:ec2transitgateway/instanceState:InstanceState";
export const PARAMETER = "aws:ssm/parameter:Parameter";
export const PERMISSION = "aws:lambda/permission:Permission";
export const PROFILE = "aws:iam/instanceProfile:InstanceProfile";
export const QUOTA = "aws:servicequotas/serviceQuota:ServiceQuota";
export const ROLE = "aws:iam/role:Role";
export const ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy";
export const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";
export const SNAPSHOT = "aws:ebs/snapshot:Snapshot";
export const SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription";
export const TAG = "aws:ec2/tag:Tag";
export const TOPIC = "aws:sns/topic:Topic";
export const TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy";
export const VOLUME = "aws:ebs/volume:Volume";
