"""Image preprocessing driven by a checkpoint's metadata: decode, resize (and crop), normalise.

The `preprocessing` dict is the one in a converted checkpoint's metadata.json (contract 2 of
docs/ARCHITECTURE.md): exactly one of `{"value_range": [lo, hi]}` (pixels mapped linearly from
[0, 255] to [lo, hi]) or `{"mean": [r, g, b], "std": [r, g, b]}` (on the [0, 1] pixel scale:
(x/255 - mean) / std), plus optionally `"resize_method"` (a PIL filter name; default
"bilinear"). Without more, images are resized straight to the model's H x W, as the paper's
fine-tuning and the original ViT and BiT code do. With `"resize_shortest_edge": S` and
`"crop_size": C` (the evaluation transform of torchvision's weights, timm's `pretrained_cfg` and
Hugging Face's ConvNext and BiT image processors), the shorter edge is resized to S keeping the
aspect ratio (the longer one to int(S * long / short)) and the centre C x C is cut out, its
offset (size difference) / 2 rounded as `"crop_offset"` says: "round" (torchvision, timm) or
"floor" (Hugging Face); at another model size H x W, S scales to max(H, W) * S // C.

Training augmentation (off by default) replaces that geometry: Inception-style random crop
(Szegedy et al. 2015, as in TF's sample_distorted_bounding_box: area 5-100% of the image, aspect
ratio 3/4-4/3) resized to H x W, and random horizontal flip."""

import dataclasses
import io
import math

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

RESIZE_METHODS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
CROP_AREA_RANGE = (0.05, 1.0)
CROP_ASPECT_RATIO_RANGE = (3 / 4, 4 / 3)
CROP_ATTEMPTS = 10


CROP_KEYS = ("resize_shortest_edge", "crop_size", "crop_offset")
CROP_OFFSETS = ("round", "floor")


@dataclasses.dataclass(frozen=True)
class Normalisation:
    """x_normalised = (x / 255 - shift) / scale, per RGB channel, of images resized with
    `resize_method` (and, when `resize_shortest_edge` is set, centre-cropped: see above)."""

    shift: tuple[float, float, float]
    scale: tuple[float, float, float]
    resize_method: str
    resize_shortest_edge: int | None = None
    crop_size: int | None = None
    crop_offset: str = "round"


def parse_preprocessing(*, preprocessing: dict) -> Normalisation:
    """Validates a metadata `preprocessing` dict; errors name the offending key or value."""
    known = {"value_range", "mean", "std", "resize_method", *CROP_KEYS}
    if unknown := sorted(set(preprocessing) - known):
        raise ValueError(f"Unknown preprocessing key(s) {unknown}; valid keys: {sorted(known)}.")
    resize_method = preprocessing.get("resize_method", "bilinear")
    if resize_method not in RESIZE_METHODS:
        raise ValueError(f"Unknown resize_method {resize_method!r}; valid: {list(RESIZE_METHODS)}.")
    geometry = {"resize_method": resize_method, **_crop(preprocessing)}
    has_range, has_stats = "value_range" in preprocessing, {"mean", "std"} & set(preprocessing)
    if has_range == bool(has_stats):
        raise ValueError(
            "preprocessing needs exactly one of 'value_range' or 'mean' and 'std'; "
            f"got {preprocessing!r}."
        )
    if has_range:
        lo, hi = _floats(preprocessing, "value_range", length=2)
        if not lo < hi:
            raise ValueError(f"value_range must be [lo, hi] with lo < hi; got {[lo, hi]}.")
        # lo + (hi - lo) * x / 255 == (x / 255 - shift) / scale with:
        shift, scale = -lo / (hi - lo), 1 / (hi - lo)
        return Normalisation((shift,) * 3, (scale,) * 3, **geometry)
    mean, std = _floats(preprocessing, "mean", length=3), _floats(preprocessing, "std", length=3)
    if max(mean) > 1 or min(std) <= 0 or max(std) > 1:
        raise ValueError(
            f"mean {mean} / std {std} must be on the [0, 1] pixel scale with std > 0 "
            "(e.g. ImageNet mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225])."
        )
    return Normalisation(mean, std, **geometry)


def _crop(preprocessing: dict) -> dict:
    """The centre-crop fields of a `preprocessing` dict, validated ({} when there are none)."""
    given = {key: preprocessing[key] for key in CROP_KEYS if key in preprocessing}
    if not given:
        return {}
    edge, crop = given.get("resize_shortest_edge"), given.get("crop_size")
    whole = [v for v in (edge, crop) if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    if len(whole) != 2 or crop > edge:
        raise ValueError(
            "preprocessing needs resize_shortest_edge and crop_size together, whole numbers with "
            f"0 < crop_size <= resize_shortest_edge; got {given!r}."
        )
    offset = given.get("crop_offset", "round")
    if offset not in CROP_OFFSETS:
        raise ValueError(f"Unknown crop_offset {offset!r}; valid: {list(CROP_OFFSETS)}.")
    return {"resize_shortest_edge": edge, "crop_size": crop, "crop_offset": offset}


# What decoding a file that is not a usable image raises (PIL's DecompressionBombError, for an
# image whose size claims more pixels than PIL allows, is not an OSError).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)

# PIL's modes for 16-bit and 32-bit integer pixels; its convert("RGB") clips them at 255.
WIDE_INTEGER_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def to_rgb(image: Image.Image) -> Image.Image:
    """`image` as 8-bit RGB. 16-bit images (PNG, TIFF; PIL's I;16 and I modes) are scaled from
    0..65535 to 0..255 (PIL's own conversion would clip everything above 255 to white); every
    other mode goes through PIL's convert("RGB") (alpha dropped, CMYK and palettes mapped)."""
    if image.mode in WIDE_INTEGER_MODES:
        wide = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(np.round(wide / 257.0), 0, 255).astype(np.uint8))
    return image if image.mode == "RGB" else image.convert("RGB")


def decode_rgb(*, image: bytes | np.ndarray) -> Image.Image:
    """Encoded bytes or a uint8 (H, W, 3) array as an RGB PIL image."""
    if isinstance(image, bytes):
        return to_rgb(Image.open(io.BytesIO(image)))
    return Image.fromarray(image, mode="RGB")


def inception_crop_box(*, width: int, height: int, rng: np.random.Generator) -> tuple[int, ...]:
    """(left, top, right, bottom) of a random crop: area fraction and aspect ratio as above."""
    for _ in range(CROP_ATTEMPTS):
        area = width * height * rng.uniform(*CROP_AREA_RANGE)
        aspect_ratio = rng.uniform(*CROP_ASPECT_RATIO_RANGE)
        crop_width = round(math.sqrt(area * aspect_ratio))
        crop_height = round(math.sqrt(area / aspect_ratio))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            left = int(rng.integers(0, width - crop_width + 1))
            top = int(rng.integers(0, height - crop_height + 1))
            return left, top, left + crop_width, top + crop_height
    return 0, 0, width, height


def resize(
    *, image: Image.Image, size: tuple[int, int], method: str, box: tuple[int, ...] | None = None
) -> np.ndarray:
    """uint8 (H, W, 3) array of `image` (or its `box` region) resized to size = (H, W)."""
    height, width = size
    return np.asarray(image.resize((width, height), RESIZE_METHODS[method], box=box))


def model_pixels(
    *, image: Image.Image, size: tuple[int, int], normalisation: Normalisation
) -> np.ndarray:
    """uint8 (H, W, 3) array of `image` as the checkpoint's evaluation transform makes it for a
    model of size = (H, W): a straight resize, or shortest-edge resize and centre crop."""
    if normalisation.resize_shortest_edge is None:
        return resize(image=image, size=size, method=normalisation.resize_method)
    height, width = size
    edge = max(height, width) * normalisation.resize_shortest_edge // normalisation.crop_size
    image_width, image_height = image.size
    if image_width <= image_height:
        new_width, new_height = edge, int(edge * image_height / image_width)
    else:
        new_width, new_height = int(edge * image_width / image_height), edge
    pixels = resize(image=image, size=(new_height, new_width), method=normalisation.resize_method)
    if normalisation.crop_offset == "round":
        top, left = round((new_height - height) / 2), round((new_width - width) / 2)
    else:
        top, left = (new_height - height) // 2, (new_width - width) // 2
    return pixels[top : top + height, left : left + width]


def normalise(*, pixels: np.ndarray, normalisation: Normalisation) -> np.ndarray:
    """float32 (x / 255 - shift) / scale (computed in place on one float32 copy)."""
    image = pixels.astype(np.float32)
    image /= 255
    image -= np.asarray(normalisation.shift, np.float32)
    image /= np.asarray(normalisation.scale, np.float32)
    return image


def normalise_on_device(*, images: jax.Array, normalisation: Normalisation) -> jax.Array:
    """`normalise` of uint8 images in a jitted step: the same float32 operations, on the device
    (uint8 batches cross to it, a quarter of the bytes of float32 ones)."""
    image = images.astype(jnp.float32) / 255
    image = image - jnp.asarray(normalisation.shift, jnp.float32)
    return image / jnp.asarray(normalisation.scale, jnp.float32)


def _floats(preprocessing: dict, key: str, *, length: int) -> tuple[float, ...]:
    value = preprocessing[key]
    if not isinstance(value, list | tuple) or len(value) != length:
        raise ValueError(
            f"preprocessing[{key!r}] must be a list of {length} numbers; got {value!r}."
        )
    return tuple(float(v) for v in value)
