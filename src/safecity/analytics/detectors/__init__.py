"""Object detectors: an ABC, a registry keyed by `type`, and the models that ship inside packages."""

from safecity.analytics.detectors.base import (
    Detector,
    DetectorConfig,
    InvalidFrame,
    build_detector,
    check_image,
    detector_config,
    detector_types,
)

__all__ = [
    "Detector",
    "DetectorConfig",
    "InvalidFrame",
    "build_detector",
    "check_image",
    "detector_config",
    "detector_types",
]
