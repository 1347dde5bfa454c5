"""What a user runs after deploying: verify a live deployment and probe its cold and warm
latency, on either cloud (`python -m ops.verify`, `python -m ops.probe`)."""
