"""Schemathesis hooks for test_fuzz_contract.py (loaded through schemathesis.toml).

openapi.yaml marks If-Match `format: etag`. Schemathesis draws header values from letters and
digits only, which no ETag fits ("3" is quoted), so without a strategy of its own it has no valid
If-Match to send; this one draws exactly the header's pattern.
"""
import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.format("etag", st.from_regex(r'\A(\*|(W/)?"[1-9][0-9]{0,17}")\Z'))
