"""What both BENCHMARK PEERS do to act as one tenant user (never deployed): AssumeRole with the
tenant's session tags (as the published design's token vending does), and a client of
`service` under those credentials, kept until five minutes before they expire."""

import time

import boto3


def tenant_client(sts, role_arn, service, tier, clinic, user):
    """(expiry as a timestamp, a boto3 client of `service` as `user` of `clinic` in `tier`)."""
    creds = sts.assume_role(
        RoleArn=role_arn,
        RoleSessionName=f"{clinic}-{user}"[:64],
        DurationSeconds=900,
        Tags=[
            {"Key": "tier", "Value": tier},
            {"Key": "clinic_id", "Value": clinic},
            {"Key": "user_id", "Value": user},
        ],
        TransitiveTagKeys=["tier", "clinic_id", "user_id"],
    )["Credentials"]
    client = boto3.client(
        service,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    return creds["Expiration"].timestamp(), client


def fresh(cached):
    """The cached client while its credentials have more than five minutes left."""
    if cached and cached[0] > time.time() + 300:
        return cached[1]
    return None
