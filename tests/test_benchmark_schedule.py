"""The benchmark on a device with a time limit: cases run precision first, none starts that the
longest case so far says would end past --time_budget, a failed case is one line and the others
still run; dispatched steps keep a bounded queue; JAX and PyTorch share the accelerator's memory
and, on CUDA, float32 arithmetic."""

import json
import os

import jax
import pytest

from vit_jax import benchmark
from vit_jax.bench import schedule, timing
from vit_jax.common import runtime
from vit_jax.common.errors import run_command


def test_cases_run_precision_first_then_mode_then_model():
    plan = schedule.planned_cases(
        models=["ViT-B_16", "ResNet-50"], modes=["train", "infer"], dtypes=["bfloat16", "float32"]
    )
    assert plan[:3] == [
        ("ViT-B_16", "train", "bfloat16"),
        ("ResNet-50", "train", "bfloat16"),
        ("ViT-B_16", "infer", "bfloat16"),
    ]
    assert len(plan) == 8 and plan[-1] == ("ResNet-50", "infer", "float32")


def test_a_case_starts_only_if_the_longest_so_far_would_end_within_the_budget():
    now = [100.0]
    budget = schedule.Budget(seconds=30, clock=lambda: now[0])
    assert budget.allows_case()
    with budget.case():
        now[0] += 10  # 10 s case, ends at 10 s
    now[0] += 5
    assert budget.allows_case()  # 15 + 10 <= 30
    with budget.case():
        now[0] += 12  # ends at 27 s
    assert not budget.allows_case()  # 27 + 12 > 30
    unlimited = schedule.Budget(seconds=0, clock=lambda: now[0])
    now[0] += 1e6
    assert unlimited.allows_case()


def test_a_failed_case_is_one_line_and_the_other_cases_still_run(monkeypatch, capsys):
    real_run_case = schedule.run_case

    def run_case(*, name, mode, args, peaks):
        if mode == "train":
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 77 GiB\n  details")
        return real_run_case(name=name, mode=mode, args=args, peaks=peaks)

    monkeypatch.setattr(schedule, "run_case", run_case)
    argv = [
        *("--model", "ViT-Ti_16", "--mode", "train,infer", "--batch_size", "2"),
        *("--image_size", "32", "--repeats", "1", "--min_run_seconds", "0", "--json"),
    ]
    assert run_command("benchmark", lambda: benchmark.main(argv)) == 1
    out, err = capsys.readouterr()
    failure = "ViT-Ti_16 train float32: RESOURCE_EXHAUSTED: Out of memory allocating 77 GiB"
    assert f"{failure} (failed)" in out.splitlines()
    assert err == f"benchmark: error: 1 case(s) failed: {failure}\n"
    (case,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert (case["mode"], case["jax"]["images_per_second"] > 0) == ("infer", True)


def test_no_case_runs_past_a_spent_budget(capsys):
    argv = ["--model", "ViT-Ti_16,ResNet-50", "--mode", "infer", "--time_budget", "1e-9"]
    assert benchmark.main(argv) == []
    out = capsys.readouterr().out
    for name in ("ViT-Ti_16", "ResNet-50"):
        assert f"{name} infer float32: not run, it would end past --time_budget" in out


def test_dispatched_steps_keep_at_most_a_few_results_waiting(monkeypatch):
    waited = []
    monkeypatch.setattr(jax, "block_until_ready", lambda value: waited.append(value))
    calls = iter(range(100))
    timer = timing.dispatching_timer("jax", lambda: next(calls))
    for _ in range(10):
        timer.step()
    assert waited == list(range(10 - timing.MAX_IN_FLIGHT))  # the oldest, one per step
    timer.wait()
    assert waited[-1] == list(range(10 - timing.MAX_IN_FLIGHT, 10))


@pytest.mark.parametrize(("preset", "expected"), [(None, "false"), ("true", "true")])
def test_sharing_the_accelerator_turns_xla_preallocation_off_unless_set(
    monkeypatch, preset, expected
):
    monkeypatch.setenv("VIT_JAX_KEEP_FREED_MEMORY", "0")
    if preset is None:
        monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    else:
        monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", preset)
    runtime.apply(share_accelerator=True)
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == expected


def test_pytorch_float32_matmuls_use_jax_precision_on_cuda_only():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from vit_jax.bench import torch_models

    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        assert "float32 matmul precision 'highest'" in torch_models.prepare(device="cpu")
        assert "float32 matmul precision 'high'" in torch_models.prepare(device="cuda")
        assert torch_models.synchronize(device="cuda") is torch.cuda.synchronize
    finally:
        torch.set_float32_matmul_precision(before)
