"""The AWS CDK app's stack and constructs: one construct per concern, composed by `stack.py`."""
