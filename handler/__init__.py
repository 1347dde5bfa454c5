"""The shared inference handler: a cloud-agnostic core (`service`, `request`, `model`) and one
thin adapter per cloud (`aws`, `gcp`).

`IMPORT_STARTED` is taken when the package is first imported, so the adapters' init log line can
report how long the imports took before the model began to load.
"""

import time

IMPORT_STARTED = time.perf_counter()
