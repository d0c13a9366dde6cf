import json
import struct

import numpy as np
import pytest
from tensorboardX.proto.event_pb2 import Event, SessionLog

from vit_jax.reporting.writer import MetricWriter


def _crc32c(data: bytes) -> int:
    """Bitwise CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), not tensorboardX's."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _read_events(path) -> list[Event]:
    """Parses TFRecord framing (length, masked CRC of length, payload, masked CRC of payload)."""
    data = path.read_bytes()
    events, offset = [], 0
    while offset < len(data):
        header = data[offset : offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[offset + 8 : offset + 12])
        payload = data[offset + 12 : offset + 12 + length]
        (payload_crc,) = struct.unpack("<I", data[offset + 12 + length : offset + 16 + length])
        assert header_crc == _masked_crc(header) and payload_crc == _masked_crc(payload)
        events.append(Event.FromString(payload))
        offset += 16 + length
    return events


def _visible_scalars(workdir) -> dict[tuple[str, int], float]:
    """Scalars TensorBoard shows: files read in name order; a SessionLog START at step T hides
    all earlier events with step >= T (TensorBoard's purge of orphaned data)."""
    scalars = {}
    for path in sorted((workdir / "tensorboard").glob("events.out.tfevents.*")):
        for event in _read_events(path):
            if event.HasField("session_log") and event.session_log.status == SessionLog.START:
                scalars = {key: v for key, v in scalars.items() if key[1] < event.step}
            for value in event.summary.value:
                scalars[(value.tag, event.step)] = value.simple_value
    return scalars


def _jsonl(workdir) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_write_appends_jsonl_lines_and_tensorboard_scalars(tmp_path):
    with MetricWriter(workdir=tmp_path) as writer:
        writer.write(
            step=10, split="train", metrics={"loss": np.float32(0.5), "learning_rate": 1e-3}
        )
        writer.write(
            step=10,
            split="validation",
            metrics={
                "accuracy": 0.75,
                "per_class": {"boot": {"f1": 0.25, "support": np.int64(4)}},
                "confusion_matrix": np.array([[3, 1], [0, 4]]),
            },
        )
    assert _jsonl(tmp_path) == [
        {"step": 10, "split": "train", "loss": 0.5, "learning_rate": 1e-3},
        {
            "step": 10,
            "split": "validation",
            "accuracy": 0.75,
            "per_class": {"boot": {"f1": 0.25, "support": 4}},
            "confusion_matrix": [[3, 1], [0, 4]],
        },
    ]
    assert _visible_scalars(tmp_path) == pytest.approx(
        {
            ("train/loss", 10): 0.5,
            ("train/learning_rate", 10): 1e-3,
            ("validation/accuracy", 10): 0.75,
        }
    )


def _log_steps(workdir, *, steps, resume_step, offset=0.0):
    with MetricWriter(workdir=workdir, resume_step=resume_step) as writer:
        for step in steps:
            writer.write(step=step, split="train", metrics={"loss": 1.0 / step + offset})


def test_resumed_run_ends_identical_to_an_uninterrupted_run(tmp_path):
    uninterrupted, resumed = tmp_path / "uninterrupted", tmp_path / "resumed"
    _log_steps(uninterrupted, steps=[1, 2, 3, 4], resume_step=None)
    # A run logs steps 1 and 2, checkpoints at step 2, logs step 3 and crashes; after a restart
    # from the step-2 checkpoint, step 3 is logged again (here with other values) and then step 4.
    with MetricWriter(workdir=resumed) as writer:
        for step in (1, 2):
            writer.write(step=step, split="train", metrics={"loss": 1.0 / step})
        writer.write(step=3, split="train", metrics={"loss": 100.0, "extra": 7.0})
    _log_steps(resumed, steps=[3, 4], resume_step=2)

    assert [line["step"] for line in _jsonl(resumed)] == [1, 2, 3, 4]
    assert _jsonl(resumed) == _jsonl(uninterrupted)
    assert _visible_scalars(resumed) == pytest.approx(_visible_scalars(uninterrupted))
    assert len(list((resumed / "tensorboard").iterdir())) == 2


def test_resume_drops_only_lines_after_the_resume_step(tmp_path):
    _log_steps(tmp_path, steps=[1, 2, 3, 4], resume_step=None)
    MetricWriter(workdir=tmp_path, resume_step=2).close()
    assert [line["step"] for line in _jsonl(tmp_path)] == [1, 2]
    MetricWriter(workdir=tmp_path).close()
    assert (tmp_path / "metrics.jsonl").read_text() == ""


def test_torn_last_line_is_dropped_and_a_corrupt_line_is_an_error(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "split": "train"}\n{"step": 2, "spl')
    MetricWriter(workdir=tmp_path, resume_step=5).close()
    assert _jsonl(tmp_path) == [{"step": 1, "split": "train"}]
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
        MetricWriter(workdir=tmp_path, resume_step=5)
    assert path.read_text() == '{"step": 1}\nnot json\n{"step": 3}\n'


def test_reserved_and_unserialisable_metrics_are_errors(tmp_path):
    with MetricWriter(workdir=tmp_path) as writer:
        with pytest.raises(ValueError, match="'step'"):
            writer.write(step=1, split="train", metrics={"step": 3})
        with pytest.raises(TypeError, match=r"\['bad'\]"):
            writer.write(step=1, split="train", metrics={"bad": object()})


def test_non_finite_metrics_are_written_as_null(tmp_path):
    with MetricWriter(workdir=tmp_path) as writer:
        writer.write(step=1, split="train", metrics={"loss": float("nan"), "norm": np.inf})

    def refuse(token: str) -> None:
        raise ValueError(f"bare {token} in metrics.jsonl")

    line = json.loads((tmp_path / "metrics.jsonl").read_text(), parse_constant=refuse)
    assert line == {"step": 1, "split": "train", "loss": None, "norm": None}
