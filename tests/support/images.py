"""Real image files for the attachment tests, made with Pillow (a test dependency, not the layer's).

The layer reads sizes from header bytes alone; these give it files an image library really wrote.
"""

from __future__ import annotations

import io

from PIL import Image

__all__ = ["image_bytes"]

_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


def image_bytes(content_type: str, width: int, height: int, **options: object) -> bytes:
    """An image of ``content_type`` and that size (``lossless=True`` etc. pass to Pillow)."""
    image = Image.new("RGB", (width, height), (200, 40, 90))
    out = io.BytesIO()
    image.save(out, format=_FORMATS[content_type], **options)
    return out.getvalue()
