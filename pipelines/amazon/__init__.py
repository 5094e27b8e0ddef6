"""Amazon, as this product talks to it: the only place python-amazon-sp-api and boto3 are imported. The SP-API
clients and what their failures mean (client.py), how one call is paced, retried and given up (calls.py,
ratelimit.py), every limit Amazon sets (limits.py), its carrier codes (carriers.py), and the SQS queue its
notifications arrive in (queue.py)."""
