"""What one request may cost, decided before it is paid: the body size, the number of JSON
values in it, and the range of each number.

A rejected request must be cheap. Parsing first and counting rows afterwards let a 5.7 MiB body
of two million `{}` cost about 186 MB of memory before its 400; counting the body's values with
three `bytes.count` calls first rejects it at the cost of the body itself.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

# Both backends compute in float32 at most (ONNX Runtime casts its input), so a number beyond
# float32's range cannot reach the model intact: 1e39 would become inf.
FLOAT32_MAX = 3.4028234663852886e38

# What one feature can take in a pretty-printed body besides its name: quotes, ": ", a
# 24-character number such as -1.2345678901234567e-308, ",\n" and a few levels of indentation.
BYTES_PER_VALUE = 48
BYTES_PER_ROW = 16
BODY_SLACK = 4096
# A derived limit never exceeds 4 MiB: API Gateway may deliver the body base64-encoded (a third
# larger), and the whole event must fit Lambda's 6 MiB invocation payload. Past that, Lambda
# refuses the invoke and the caller gets API Gateway's 500 instead of this handler's 413.
MAX_DERIVED_BODY_BYTES = 4 * 1024 * 1024


def body_limit(feature_names: Sequence[str], max_rows: int) -> int:
    """The largest body a batch of `max_rows` rows can need, named features and indentation
    included: about 250 KiB for Iris' four features and 1,000 rows."""
    per_row = BYTES_PER_ROW + sum(len(name.encode()) + BYTES_PER_VALUE for name in feature_names)
    return min(max_rows * per_row + BODY_SLACK, MAX_DERIVED_BODY_BYTES)


@functools.cache  # one model, one row limit: computed once, not on every request
def value_limit(feature_names: tuple[str, ...], max_rows: int) -> int:
    """Twice the JSON values and containers a batch of `max_rows` rows can hold."""
    structural_in_names = sum(count_values(name.encode()) for name in feature_names)
    per_row = len(feature_names) + 1 + structural_in_names
    return 2 * max_rows * per_row + 64


def count_values(body: bytes) -> int:
    """An upper bound on the values a JSON text parses into, less one: every value but the first
    of an array or object follows a comma, and every container opens with `[` or `{`. Commas and
    brackets inside strings only make the bound stricter."""
    return body.count(b",") + body.count(b"[") + body.count(b"{")
