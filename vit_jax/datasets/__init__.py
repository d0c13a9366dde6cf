"""Dataset builders; importing this package registers `shoe_sandal_boot` and `image_folder`."""

from vit_jax.datasets.image_folder import ImageFolder
from vit_jax.datasets.shoe_sandal_boot import ShoeSandalBoot

__all__ = ["ImageFolder", "ShoeSandalBoot"]
