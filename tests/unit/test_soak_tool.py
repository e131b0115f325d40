"""The soak's own arithmetic (bench.soak imports only the standard library at module level):
the frames its flood writes, its percentiles, and what it counts in the demo's log."""

from __future__ import annotations

from pathlib import Path

from bench import soak


def _unmask(frame: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of one masked client frame, decoded by RFC 6455 §5.2."""
    assert frame[0] & 0x80 and frame[1] & 0x80  # FIN, MASK
    n, i = frame[1] & 0x7F, 2
    if n == 126:
        n, i = int.from_bytes(frame[2:4], "big"), 4
    elif n == 127:
        n, i = int.from_bytes(frame[2:10], "big"), 10
    key, body = frame[i : i + 4], frame[i + 4 :]
    assert len(body) == n
    return frame[0] & 0x0F, bytes(b ^ key[k % 4] for k, b in enumerate(body))


def test_flood_frames_are_valid_masked_frames_of_every_length_class() -> None:
    for size in (0, 1, 125, 126, 1024, 65535, 65536, 70_000):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert _unmask(soak.mask_frame(payload, opcode=0x2)) == (0x2, payload), size


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert soak.percentile(values, 0.50) == 50.0 and soak.percentile(values, 0.99) == 99.0
    assert soak.percentile([7.0], 0.99) == 7.0 and soak.percentile([], 0.5) is None
    assert soak.stats([3.0, 1.0, 2.0]) == {"n": 3, "p50": 2.0, "p99": 3.0, "max": 3.0}


def test_log_counts_tracebacks_and_error_lines_between_offsets(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    before = "Traceback (most recent call last):\n"
    during = "ok\nTraceback (most recent call last):\nERROR:    Exception in ASGI application\nan ERRORS word\n"
    log.write_text(before + during)
    counts = soak.log_counts(log, len(before), len(before + during))
    assert counts == {"tracebacks": 1, "errors": 1, "lines": 4, "bytes": len(during)}
