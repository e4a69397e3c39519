"""Issue 5: bad input, faults and load. Weight-file faults are in test_weights.py,
training faults in test_training.py."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from clients import rss_mib, send_all

from digitpad import pendigits, render

canvases = arrays(st.sampled_from([np.uint8, np.float32, np.int32, bool]),
                  st.tuples(st.integers(0, 48), st.integers(0, 48), st.sampled_from([0, 1, 3, 4, 5]))
                  .map(lambda s: s[:2] if s[2] == 0 else s))
values = st.one_of(canvases, canvases.map(lambda a: {"background": None, "layers": [], "composite": a}),
                   st.none(), st.integers(), st.text(max_size=5))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_the_handler_answers_every_value_with_a_message_or_a_valid_reading(model, value):
    p = render.panels(model, value)
    assert isinstance(p.verdict, str) and p.verdict
    if p.probs is None:
        assert p.digit is None and p.layers == []
    else:
        assert len(p.probs) == 10 and abs(sum(p.probs.values()) - 1) < 1e-4
        assert all(0 <= v <= 1 for v in p.probs.values())


@pytest.mark.parametrize("value, shown", [
    (np.full((800, 800, 4), 255, np.uint8), render.EMPTY),
    (np.zeros((800, 800, 4), np.uint8), render.EMPTY),
    (np.zeros((800, 800, 3), np.uint8), render.EMPTY),
    (np.full((4, 4), np.nan, np.float32), "could not be read: the image holds NaN"),
    (np.zeros((8, 8, 7), np.uint8), "could not be read: expected an image of shape"),
    ("hello", "could not be read: the drawing is not JSON"),
], ids=["blank", "transparent", "all-ink", "nan", "channels", "text"])
def test_the_page_says_what_is_wrong(model, value, shown):
    assert shown in render.panels(model, value).verdict


def test_twenty_clients_at_once_get_the_answers_each_gets_alone(server, model, drawings):
    """20 concurrent clients x 4 drawings against the app on loopback: no errors, same answers,
    and memory that stops growing once the server has warmed up to 20 clients."""
    rng = np.random.default_rng(5)
    values = [pendigits.pad_value(drawings[i], rng) for i in range(0, 7494, 62)][:80]
    warm, measured = values[:20], values[20:]

    # The first burst of 20 clients grows the server by ~100 MiB once (threads, malloc arenas,
    # lazy imports); what matters in a classroom is what comes after.
    send_all(server.url, [warm[k::20] for k in range(20)])
    before = rss_mib(server.pid)
    results, seconds = send_all(server.url, [measured[k::20] for k in range(20)])
    growth = rss_mib(server.pid) - before
    print(f"60 drawings from 20 clients in {seconds:.1f} s; server memory grew {growth:.1f} MiB")

    assert sum(len(r) for r in results) == 60
    for client in results:
        for value, verdict, probs in client:
            alone = render.glance(model, value)
            assert verdict == alone.verdict
            assert probs["label"] == str(alone.digit)
            got = {c["label"]: c["confidence"] for c in probs["confidences"]}
            assert all(abs(got[k] - v) < 1e-4 for k, v in alone.probs.items())
    # Keeping each request's value or its page images would add tens of MiB over these 60 drawings.
    assert growth < 100
