"""Readers and name maps that turn published checkpoints into vit_jax parameter trees.

One module per source format (original ViT .npz, BiT .npz, Hugging Face ViT, Hugging Face and
torchvision ResNet); `detect` tells the formats apart and `fit` checks a tree against a model.
"""
