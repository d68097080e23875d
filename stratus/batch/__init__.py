"""The AWS Batch front door: boto3 and the AWS CLI against a stratus cluster."""
