"""Issue 11, found by schemathesis in-process: a certificate number with a control character, a
"/" or a "?" went into assessment's URL as it was — a 500 (httpx refused the URL) or another
route. It is one path segment now, and a number assessment refuses is "not found"."""

import pytest

from tests.incentives.test_subsidies import claim


@pytest.mark.parametrize("number", ["\u0017\ua5e2+U~", "a/../../metrics", "Y1?learner_id=x", "%2F"])
async def test_a_hostile_certificate_number_is_not_found_not_a_500(loaded, tokens, assessment, number):
    r = await claim(loaded, tokens, number)
    assert r.status_code == 404, r.text
    assert r.json()["type"].endswith("certificate-not-found")
    # Assessment was asked for exactly that number, as one segment (its decoded path).
    assert assessment.calls[-1] == "/v1/certificates/" + number
