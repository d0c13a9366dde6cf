"""kernels='cpu' and kernels='xla' (vit_jax.kernels.selection) are two implementations of one
model: the same parameters, outputs, gradients and batch statistics for every family; 'auto' is
'cpu' here; the 'xla' train steps of ViT-B/16 and ResNet-50 export for CUDA with jax.export on
this CPU-only machine, holding no hand-written gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import export

from vit_jax import models
from vit_jax.kernels import selection

TINY = {
    "ViT-Ti_16": dict(hidden_size=32, mlp_dim=64, num_heads=4, num_layers=2, patches=(4, 4)),
    "R50+ViT-B_16": dict(
        hidden_size=32,
        mlp_dim=64,
        num_heads=4,
        num_layers=1,
        resnet={"num_layers": (1, 8), "width_factor": 1},  # 7 repeats: scanned on 'cpu'
    ),
    "ResNet-50": dict(num_layers=(1, 8)),
    "BiT-R50x1": dict(num_layers=(1, 8)),
}


def _loss_fn(model):
    def loss(params, rest, images, labels):
        mutable = ["batch_stats"] if "batch_stats" in rest else False
        out = model.apply({**rest, "params": params}, images, train=True, mutable=mutable)
        logits, updates = out if mutable else (out, {})
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, (logits, updates)

    return loss


@pytest.mark.parametrize("name", list(TINY))
def test_cpu_and_xla_kernels_give_the_same_outputs_gradients_and_statistics(name):
    images = jax.random.uniform(jax.random.key(1), (4, 32, 32, 3), minval=-1)
    labels = jnp.arange(4) % 3
    cpu, xla = (
        models.create_model(name, num_classes=3, kernels=k, **TINY[name]) for k in ("cpu", "xla")
    )
    variables = cpu.init(jax.random.key(0), images, train=False)
    keys = jax.random.split(jax.random.key(2), len(jax.tree.leaves(variables["params"])))
    params = jax.tree.unflatten(  # a non-zero head, so every gradient is informative
        jax.tree.structure(variables["params"]),
        [
            p + 0.05 * jax.random.normal(k, p.shape)
            for p, k in zip(jax.tree.leaves(variables["params"]), keys, strict=True)
        ],
    )
    rest = {k: v for k, v in variables.items() if k != "params"}
    assert jax.tree.structure(
        xla.init(jax.random.key(0), images, train=False)
    ) == jax.tree.structure(variables)
    results = []
    for model in (cpu, xla):
        grad_fn = jax.jit(jax.value_and_grad(_loss_fn(model), has_aux=True))
        (loss, (logits, updates)), grads = grad_fn(params, rest, images, labels)
        inference = jax.jit(lambda v, x, m=model: m.apply(v, x, train=False))
        results.append(
            (loss, logits, updates, grads, inference({**rest, "params": params}, images))
        )
    for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_auto_is_cpu_on_the_cpu_backend_and_a_bad_value_is_refused():
    assert jax.default_backend() == "cpu" and selection.resolve("auto") == "cpu"
    with pytest.raises(ValueError, match=r"kernels='gpu' is not one of \('auto', 'cpu', 'xla'\)"):
        models.create_model("ViT-B_16", num_classes=3, kernels="gpu")
    assert selection.attention_implementation(dtype=jnp.bfloat16, head_dim=64) is None  # no GPU


class _FakeGPU:
    def __init__(self, *, platform_version: str, compute_capability: str):
        self.client = type("Client", (), {"platform_version": platform_version})()
        self.compute_capability = compute_capability


@pytest.mark.parametrize(
    ("platform_version", "capability", "dtype", "head_dim", "expected"),
    [
        ("PJRT C API\ncuda 12080", "9.0", jnp.bfloat16, 64, "cudnn"),  # H100/H200
        ("PJRT C API\ncuda 12080", "8.0", jnp.float16, 128, "cudnn"),  # A100
        ("PJRT C API\ncuda 12080", "7.5", jnp.float16, 64, None),  # T4: no fused attention
        ("PJRT C API\ncuda 12080", "9.0", jnp.float32, 64, None),
        ("PJRT C API\ncuda 12080", "9.0", jnp.bfloat16, 60, None),
        ("PJRT C API\ncuda 12080", "9.0", jnp.bfloat16, 136, None),
        ("PJRT C API\nrocm 60342", "9.0", jnp.bfloat16, 64, None),  # an AMD GPU has no cuDNN
    ],
)
def test_cudnn_attention_is_chosen_only_where_cudnn_runs_it(
    monkeypatch, platform_version, capability, dtype, head_dim, expected
):
    gpu = _FakeGPU(platform_version=platform_version, compute_capability=capability)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(jax, "devices", lambda *args: [gpu])
    assert selection.attention_implementation(dtype=dtype, head_dim=head_dim) == expected


def _train_step_jaxpr_and_export(name: str, kernels: str, batch: int = 2):
    model = models.create_model(name, num_classes=3, kernels=kernels)
    images = jax.ShapeDtypeStruct((batch, 224, 224, 3), jnp.bfloat16)
    labels = jax.ShapeDtypeStruct((batch,), jnp.int32)
    variables = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3)), train=False)
    )
    rest = {k: v for k, v in variables.items() if k != "params"}
    step = jax.jit(jax.value_and_grad(_loss_fn(model), has_aux=True))
    args = (variables["params"], rest, images, labels)
    jaxpr = str(jax.make_jaxpr(_loss_fn(model))(*args))  # custom gradients show before autodiff
    exported = export.export(step, platforms=["cuda"])(*args)
    return jaxpr, exported.mlir_module()


@pytest.mark.parametrize("name", ["ViT-B_16", "ResNet-50"])
def test_the_xla_train_step_exports_for_cuda_without_hand_written_gradients(name):
    xla_jaxpr, xla_module = _train_step_jaxpr_and_export(name, "xla")
    cpu_jaxpr, cpu_module = _train_step_jaxpr_and_export(name, "cpu")
    assert "custom_vjp_call" in cpu_jaxpr  # the CPU path's gradients (dense, attention, conv, BN)
    assert "custom_vjp_call" not in xla_jaxpr
    if name == "ResNet-50":  # kernel gradients as convolutions, not as im2col patch products
        assert xla_module.count("stablehlo.convolution") > cpu_module.count("stablehlo.convolution")
        assert xla_module.count("stablehlo.concatenate") < cpu_module.count("stablehlo.concatenate")
