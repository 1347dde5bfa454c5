"""The release tool behind `make release-gcp` and `make rollback-gcp` (pulumi_gcp/release.py).

A pure core and thin Google adapters, one concern per module:

    traffic.py     a service's traffic as the tool sees it, and the splits a release moves through
    history.py     which revisions served, in order (the stack's bucket), and the bundle stamps
    canary.py      judging a canary from the new revision's own metrics
    flow.py        release and rollback, step by step, over the ports below
    cloud_run.py   the Cloud Run Admin API v2 (google-cloud-run): read a service, move traffic
    revision_metrics.py  Cloud Monitoring (google-cloud-monitoring): a revision's requests, 5xx, p99
    storage.py     Cloud Storage (google-cloud-storage): the release record, bundles, stamps
    probe.py       HTTP checks of one revision through its tag URL, synthetic canary traffic

Not part of the Pulumi program (Pulumi runs only `__main__.py`).
"""
