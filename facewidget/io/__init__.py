"""Reading images into the one layout the rest of facewidget uses: RGB uint8, (H, W, 3)."""

from .images import MAX_IMAGE_PIXELS, load_image

__all__ = ["MAX_IMAGE_PIXELS", "load_image"]
